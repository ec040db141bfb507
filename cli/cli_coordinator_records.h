/*
 * cli_coordinator_records.h — prints the records of __consumer_offsets decoded
 * (Kafka's OffsetsMessageFormatter / kafka-dump-log.sh --offsets-decoder).
 */
#ifndef CLI_COORDINATOR_RECORDS_H
#define CLI_COORDINATOR_RECORDS_H

#include "kp_batch.h"
#include <stdio.h>

/* Prints " key: {...} payload: {...}" for one record: the key's int16 record
 * type selects the schema (0 and 1 offset commits, 2 group metadata, 3-8 and 16
 * KIP-848 records), the value's int16 prefix its version; a null value prints
 * payload: null (a tombstone). Records that do not decode print what is wrong
 * instead. Never fails. */
void cli_print_coordinator_record(FILE *out, const kp_record_t *rec);

#endif /* CLI_COORDINATOR_RECORDS_H */

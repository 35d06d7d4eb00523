/* SPDX-License-Identifier: MIT */
/*
 * The input of an import (`spoke import bikes|trips`): a file, or stdin for
 * "-", read into a window buf[0..len) of CLI_INPUT_BYTES that the decoder
 * consumes up to pos.
 */
#ifndef CLI_INPUT_H
#define CLI_INPUT_H

#include "base/sys.h"

/* The window: many rows per read(2), and more than one record. */
#define CLI_INPUT_BYTES (1024 * 1024)

struct cli_input {
    const char *name; /* for messages: the path, or "stdin" */
    int fd;           /* -1 when not open */
    char *buf;        /* CLI_INPUT_BYTES, the caller's */
    size_t len;
    size_t pos;
    bool eof;
};

/* Opens path ("-": stdin) with the window buf; false (printed) if not. */
bool cli_input_open(struct cli_input *in, const char *path, char *buf);

/* Moves the unconsumed bytes to the front and reads more; false (printed)
 * on a read error. */
bool cli_input_fill(struct cli_input *in);

/* Closes the file if it is open (not buf). */
void cli_input_close(struct cli_input *in);

#endif

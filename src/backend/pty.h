/* Pseudo-terminals for --pty: COMMAND's stdout on a terminal, so that
 * programs which buffer a pipe by the block flush per line, with the line
 * discipline out of the way (raw: no CR added, no echo, no signal
 * characters). stdin stays a pipe: a raw terminal has no end of input that
 * a blocked read() sees (an EOF character works only in canonical mode,
 * which cuts lines at 4095 bytes), and closing stdin is how a program
 * learns that its client has gone. */
#ifndef WSB_PTY_H
#define WSB_PTY_H

/* A new pair: *master non-blocking, both close-on-exec, the slave raw and
 * 80x24. Returns 0 or an errno value (nothing left open then). */
int pty_open(int *master, int *slave);

#endif

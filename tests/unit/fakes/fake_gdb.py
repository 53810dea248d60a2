#!/usr/bin/env python3
"""A stand-in for `gdb --interpreter=mi3` that answers a few made-up commands,
for testing the MI client's protocol handling without GDB or QEMU.

    -exec-continue   ^running, *running, then *stopped (breakpoint-hit at 0x1000)
    -late-stop       a *stopped at 0x2000 from before it resumed, then as -exec-continue
    -echo TEXT       console stream "TEXT\n", then ^done
    -fail            ^error,msg="boom"
    -hang            no answer until SIGINT, which quits it as GDB does (^error "Quit")
    -deaf            no answer at all, and SIGINT ignored from then on
    -die             exit with status 3
    -late            answer with the previous token first, then its own
    anything else    ^done,value="42"
"""

import signal
import sys
import time


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


hanging = None  # the token of a -hang command, which SIGINT quits


def quit_command(signum, frame):
    global hanging
    if hanging is None:
        out('&"Quit\\n"')  # GDB idle: it only says so
    else:
        out(f'{hanging}^error,msg="Quit"')
        hanging = None


signal.signal(signal.SIGINT, quit_command)
out('=thread-group-added,id="i1"')
out("(gdb) ")
previous = None
for raw in sys.stdin:
    line = raw.strip()
    token = ""
    while line and line[0].isdigit():
        token, line = token + line[0], line[1:]
    cmd, _, arg = line.partition(" ")
    if cmd == "-late-stop":
        out('*stopped,reason="breakpoint-hit",frame={addr="0x00002000",func="g",args=[]}')
    if cmd in ("-exec-continue", "-late-stop"):
        out(f"{token}^running")
        out('*running,thread-id="all"')
        time.sleep(0.05)
        out('*stopped,reason="breakpoint-hit",frame={addr="0x00001000",func="f",args=[]}')
    elif cmd == "-echo":
        out('~"' + arg + '\\n"')
        out(f"{token}^done")
    elif cmd == "-fail":
        out(f'{token}^error,msg="boom"')
    elif cmd == "-hang":
        hanging = token
        continue
    elif cmd == "-deaf":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        continue
    elif cmd == "-die":
        sys.exit(3)
    elif cmd == "-late":
        out(f'{previous}^done,value="stale"')
        out(f'{token}^done,value="fresh"')
    else:
        out(f'{token}^done,value="42"')
    out("(gdb) ")
    previous = token

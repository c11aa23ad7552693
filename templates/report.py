# gdb Python script run by `corepack-crash report` after the replay script has
# loaded the crash: every thread's frames as data (gdb's Python API), printed
# as one JSON document between two lines holding a nonce corepack chose, so
# nothing else gdb prints (the crashed program's command line included) can
# pass for it. Reads only; never runs code from the core or the bundle.
import json
import os

import gdb

NONCE = os.environ.get("COREPACK_REPORT_NONCE", "")
MAX_FRAMES = int(os.environ.get("COREPACK_REPORT_MAX_FRAMES", "4096"))


def text(value):
    return None if value is None else str(value)


def frame_record(frame):
    pc = frame.pc()
    sal = frame.find_sal()
    symtab = sal.symtab if sal is not None else None
    try:
        name = frame.name()
    except gdb.error:
        name = None
    return {
        "pc": "0x%x" % pc,
        "function": text(name),
        "file": text(symtab.filename) if symtab is not None else None,
        "fullname": text(symtab.fullname()) if symtab is not None else None,
        "line": sal.line if sal is not None and sal.line else None,
        "solib": text(gdb.solib_name(pc)),
        "inline": frame.type() == gdb.INLINE_FRAME,
        "signalFrame": frame.type() == gdb.SIGTRAMP_FRAME,
    }


def thread_record(thread):
    thread.switch()
    frames = []
    truncated = False
    error = None
    try:
        frame = gdb.newest_frame()
        while frame is not None:
            if len(frames) >= MAX_FRAMES:
                truncated = True
                break
            frames.append(frame_record(frame))
            frame = frame.older()
    except gdb.error as e:
        error = str(e)
    return {
        "num": thread.num,
        "lwp": thread.ptid[1] or thread.ptid[0],
        "name": text(thread.name),
        "frames": frames,
        "truncated": truncated,
        "error": error,
    }


def symbol_address(name):
    # Minimal symbols (.dynsym) are enough: the address, not the type.
    try:
        return "0x%x" % int(gdb.parse_and_eval("(unsigned long)&%s" % name))
    except gdb.error:
        return None


def main():
    inferior = gdb.selected_inferior()
    threads = sorted(inferior.threads(), key=lambda t: t.num)
    selected = gdb.selected_thread()
    result = {
        "gdb": gdb.VERSION,
        "selected": selected.ptid[1] if selected is not None else None,
        "threads": [thread_record(t) for t in threads],
        "symbols": {"__abort_msg": symbol_address("__abort_msg")},
    }
    gdb.write("\n%s\n%s\n%s\n" % (NONCE, json.dumps(result), NONCE))
    gdb.flush()


main()

"""End what a local Ray instance leaves behind when its driver dies (Linux; run as a script).

``python -I _ray_watchdog.py SESSION_DIR DRIVER_PID`` reads its standard input, a pipe whose other end only
the driver holds, until end of file: the driver has ended, however it ended (``kill -9``
included). Ray starts its GCS server and raylet so that they die with the driver
(``PR_SET_PDEATHSIG``), but the raylet's agents (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) then wait about 60 s on the dead GCS server before they exit (Ray
2.60). The watchdog kills every process of the same user that has a file under SESSION_DIR open
(the agents hold their logs there; only Ray's processes) or names it on its command line, the
driver excepted, twice, one second apart (a worker that was starting).

Started by :class:`enhance.ray_engine.RayEngine` only for a local instance it started itself,
never for a cluster it joined. Standard library only, run in isolated mode (``-I``): it does
not import enhance, and nothing of the current folder or the environment shadows a module.
"""

import os
import signal
import sys
import time


def session_processes(session_dir, *, exclude=()):
    """The pids of Ray's processes that hold a file under ``session_dir`` open, and of the
    processes that name it on their command line (those of other users cannot be read and are
    left out).

    Parameters
    ----------
    session_dir : str
        A Ray session folder (``.../ray/session_<date>_<pid>``).
    exclude : iterable of int, keyword-only
        Pids never returned (the watchdog itself).

    Returns
    -------
    list of int
    """
    session_dir = os.path.realpath(session_dir)
    inside = session_dir + os.sep
    exclude = set(exclude)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as file:
                command = file.read().decode(errors="replace")
            if session_dir in command:
                found.append(int(name))
                continue
            if not (command.startswith("ray::") or "/ray/" in command):
                continue  # not Ray's (a user reading a log of the session)
            for fd in os.listdir(f"/proc/{name}/fd"):
                if os.readlink(f"/proc/{name}/fd/{fd}").startswith(inside):
                    found.append(int(name))
                    break
        except OSError:  # gone, or another user's
            continue
    return found


def main(session_dir, driver):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver, which closes the pipe
    while sys.stdin.buffer.read(1 << 16):
        pass
    for attempt in range(2):
        if attempt:
            time.sleep(1)
        for pid in session_processes(session_dir, exclude={os.getpid(), driver}):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

import io

from simgen.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_pipe_prints_whole_lines_with_rate_and_time_left():
    out = io.StringIO()
    p = Progress(3, stream=out, every=3600)
    for _ in range(3):
        p.update()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("frames 0/3") and "left ?" in lines[0]
    assert lines[-1].startswith("frames 3/3 [########################]")
    assert "/s" in lines[-1] and "left 0:00:00" in lines[-1]
    assert len(lines) == 2  # throttled: start and end only


def test_progress_on_a_terminal_redraws_one_line():
    out = Tty()
    p = Progress(2, stream=out)
    p.update()
    p.update()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "frames 1/2" in text

"""SVG to PNG in-process with librsvg (PyGObject; Debian gir1.2-rsvg-2.0 and python3-gi-cairo),
a pool of one process a core, cached and resumable: a picture already rendered (or already
failed: NAME.png.failed holds the reason) is never rendered again, and each is written beside
its final name and renamed into place. Whoever makes the pictures clears a folder whose inputs
changed (see iconify.py's render stamp).

In-process rendering costs ~2 ms an icon; spawning rsvg-convert for each cost ~60 ms."""
import multiprocessing
import os
import sys
import time

_rsvg = None


def _load():
    global _rsvg
    if _rsvg is None:
        import gi
        gi.require_version("Rsvg", "2.0")
        from gi.repository import Rsvg
        import cairo
        _rsvg = (Rsvg, cairo)
    return _rsvg


def check_renderer():
    try:
        _load()
    except (ImportError, ValueError) as e:
        raise SystemExit(f"build-corpus: librsvg for Python is missing ({e}); scripts/setup installs "
                         "gir1.2-rsvg-2.0 and python3-gi-cairo")


def render_svg_text(svg, png, size):
    """Renders an SVG document (text) to a size x size PNG, keeping its aspect ratio; returns an
    error string or None."""
    Rsvg, cairo = _load()
    try:
        handle = Rsvg.Handle.new_from_data(svg.encode("utf-8"))
    except Exception as e:  # GLib.Error: not an SVG librsvg can read
        return f"SVG did not parse: {str(e)[:150]}"
    surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, size, size)
    viewport = Rsvg.Rectangle()
    viewport.x, viewport.y, viewport.width, viewport.height = 0, 0, size, size
    try:
        handle.render_document(cairo.Context(surface), viewport)
    except Exception as e:
        return f"SVG did not render: {str(e)[:150]}"
    data = surface.get_data()
    if not any(data[3::4]):
        return "SVG rendered nothing visible"
    os.makedirs(os.path.dirname(png), exist_ok=True)
    tmp = png + ".tmp"
    surface.write_to_png(tmp)
    os.replace(tmp, png)
    return None


def _render_one(task):
    kind, source, png, size = task
    error = _render_source(kind, source, png, size)
    if error:  # remembered, so a second run does not try again (the cache is cleared when inputs change)
        os.makedirs(os.path.dirname(png), exist_ok=True)
        with open(png + ".failed", "w", encoding="utf-8") as f:
            f.write(error)
    return png, error


def _render_source(kind, source, png, size):
    if kind == "file":
        try:
            with open(source, encoding="utf-8", errors="replace") as f:
                source = f.read()
        except OSError as e:
            return f"unreadable: {e}"
    return render_svg_text(source, png, size)


def render_all(tasks, jobs, what):
    """tasks: [(kind 'text'|'file', svg text or path, png path, size)]. Returns {png: error} of
    those that failed. Progress goes to stderr every few seconds."""
    failed = {}
    todo = []
    for t in tasks:
        if os.path.exists(t[2]):
            continue
        if os.path.exists(t[2] + ".failed"):
            with open(t[2] + ".failed", encoding="utf-8", errors="replace") as f:
                failed[t[2]] = f.read()
            continue
        todo.append(t)
    if not todo:
        return failed
    print(f"build-corpus: rendering {len(todo)} {what} with librsvg on {jobs} processes", file=sys.stderr, flush=True)
    start = last = time.monotonic()
    done = 0
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs) as pool:
        for png, error in pool.imap_unordered(_render_one, todo, chunksize=64):
            done += 1
            if error:
                failed[png] = error
            now = time.monotonic()
            if now - last > 10 or done == len(todo):
                rate = done / max(now - start, 1e-9)
                print(f"build-corpus:   {done}/{len(todo)} rendered ({rate:.0f}/s, "
                      f"{(len(todo) - done) / max(rate, 1e-9):.0f} s left)", file=sys.stderr, flush=True)
                last = now
    return failed

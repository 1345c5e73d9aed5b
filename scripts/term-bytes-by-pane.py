#!/usr/bin/env python3
"""term-bytes-by-pane.py — which panes of the dashboard the terminal bytes went to.

Usage: term-bytes-by-pane.py TYPESCRIPT SCREEN FROM TO SECONDS [TOP]

TYPESCRIPT is what `script` recorded (scripts/bench-ui.sh keeps it with KEEP=1), SCREEN a
`tmux capture-pane -p` of the same window, FROM and TO byte offsets of the measured interval
in the typescript, SECONDS its length. The typescript is replayed through a minimal cursor
model (CUP, relative moves, CR, LF, printed cells) so every byte is charged to the cell the
cursor was on when it was written; cells are mapped to the panes drawn in SCREEN (boxes
found by their corners, named by the title in their top border), and the rest to "other"
(status bar, vitals line, key help). Prints the TOP (default 3) panes by bytes/s.
"""
import re
import sys
import unicodedata

CSI = re.compile(rb"\x1b\[([0-9;?]*)([ -/]*)([@-~])")
OSC = re.compile(rb"\x1b\].*?(?:\x07|\x1b\\)", re.S)


def panes(screen_lines):
    """Boxes as (top, left, bottom, right, title), found from their top-left corners."""
    out = []
    for r, line in enumerate(screen_lines):
        for c, ch in enumerate(line):
            if ch not in "╭┌┏":
                continue
            right = next((k for k in range(c + 1, len(line)) if line[k] in "╮┐┓"), None)
            if right is None:
                continue
            bottom = next((k for k in range(r + 1, len(screen_lines))
                           if c < len(screen_lines[k]) and screen_lines[k][c] in "╰└┗"), None)
            if bottom is None:
                continue
            title = re.sub(r"[─━]+", " ", line[c + 1:right]).strip() or f"box at {r},{c}"
            out.append((r, c, bottom, right, " ".join(title.split()[:4])))
    return out


def main():
    ts, screen, start, end, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    top = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    data = open(ts, "rb").read()
    boxes = panes(open(screen, encoding="utf-8", errors="replace").read().splitlines())

    def pane_of(row, col):
        best = None
        for (t, l, b, r, name) in boxes:
            if t <= row <= b and l <= col <= r:
                # the innermost box wins (a detail box over a pane)
                if best is None or (b - t) * (r - l) < best[0]:
                    best = ((b - t) * (r - l), name)
        return best[1] if best else "other (status, vitals, help)"

    row = col = 0
    charged = {}
    i = 0
    n = len(data)
    while i < n:
        at = i
        if data[i] == 0x1b:
            m = CSI.match(data, i)
            if m:
                params, final = m.group(1), m.group(3)
                nums = [int(x) if x.isdigit() else 0 for x in params.split(b";")] if params else []
                arg = (nums[0] if nums and nums[0] else 1)
                if final == b"H":
                    row = (nums[0] if len(nums) > 0 and nums[0] else 1) - 1
                    col = (nums[1] if len(nums) > 1 and nums[1] else 1) - 1
                elif final == b"A":
                    row -= arg
                elif final == b"B":
                    row += arg
                elif final == b"C":
                    col += arg
                elif final == b"D":
                    col -= arg
                elif final == b"G":
                    col = arg - 1
                i = m.end()
            else:
                m = OSC.match(data, i)
                i = m.end() if m else i + 1
        elif data[i] == 0x0D:
            col, i = 0, i + 1
        elif data[i] == 0x0A:
            row, i = row + 1, i + 1
        elif data[i] < 0x20:
            i += 1
        else:
            # one UTF-8 character; wide runes take two cells
            size = 1 if data[i] < 0x80 else 2 if data[i] < 0xE0 else 3 if data[i] < 0xF0 else 4
            ch = data[i:i + size].decode("utf-8", errors="replace")
            i += size
            if at >= start and at < end:
                key = pane_of(row, col)
                charged[key] = charged.get(key, 0) + (i - at)
            col += 2 if ch and unicodedata.east_asian_width(ch[0]) in "WF" else 1
            continue
        if at >= start and at < end:
            key = pane_of(row, col)
            charged[key] = charged.get(key, 0) + (i - at)
    total = sum(charged.values()) or 1
    for name, b in sorted(charged.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {name:<40} {b / seconds:8.0f} B/s  ({100 * b / total:4.1f} %)")


if __name__ == "__main__":
    main()

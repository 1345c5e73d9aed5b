#!/usr/bin/env python3
"""term-bytes-by-pane.py — which panes of the dashboard the terminal bytes went to.

Usage: term-bytes-by-pane.py [--columns] [--pane NAME] TYPESCRIPT SCREEN FROM TO SECONDS [TOP]

TYPESCRIPT is what `script` recorded (scripts/bench-ui.sh keeps it with KEEP=1), SCREEN a
`tmux capture-pane -p` of the same window, FROM and TO byte offsets of the measured interval
in the typescript, SECONDS its length. The typescript is replayed through a minimal cursor
model (CUP, relative moves, CR, LF, printed cells) so every byte is charged to the cell the
cursor was on when it was written; cells are mapped to the panes drawn in SCREEN (boxes
found by their corners, named by the title in their top border), and the rest to "other"
(status bar, vitals line, key help). Prints the TOP (default 3) panes by bytes/s.

--columns also breaks the worst pane's bytes (or pane NAME's, matched as a prefix of its
title) down by column: the pane's columns are the runs of cells that hold a character on
at least a quarter of the rows of SCREEN inside the box (header and data rows alike; a cell
blank on most rows separates two, so a legend or a group title across the pane does not
join them), each named by the header words over it (the pane's first inner row);
bytes drawn on a blank separator are charged to the column on its left, those on the
border to "border". Each column is printed with its bytes/s and the number of rows it was
written on, so "users 60 B/s on 12 rows" reads as a figure repainted on every row. A
figure that changes every second costs about (its cells + a cursor move of ~8 B) per row
per second.
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


def columns(screen_lines, box):
    """The columns of a box as (first, last, name), in screen columns, from SCREEN."""
    t, l, b, r, _ = box
    inner = [line[l + 1:r].ljust(r - l - 1) for line in screen_lines[t + 1:b]]
    if not inner:
        return []
    # A column is a cell that holds a character on at least a quarter of the rows with text:
    # lines across the whole pane (a group title, a legend, a note) do not join two columns.
    filled = [row for row in inner if row.strip()]
    need = max(1, len(filled) // 4)
    used = [sum(row[c] != " " for row in filled) >= need for c in range(r - l - 1)]
    runs, c = [], 0
    while c < len(used):
        if not used[c]:
            c += 1
            continue
        k = c
        while k + 1 < len(used) and used[k + 1]:
            k += 1
        runs.append([c, k])
        c = k + 1
    # header words with their cells, so that a word wider than its column is named whole
    words = [(m.start(), m.end() - 1, m.group()) for m in re.finditer(r"\S+", inner[0])]
    out = []
    for first, last in runs:
        over = [w for (a, z, w) in words if a <= last and z >= first]
        left = [w for (a, z, w) in words if z < first]
        if over:
            name = " ".join(over)
        elif left:  # a column narrower than its header's place, e.g. a short trend
            name = f"{left[-1]} (cells {l + 1 + first}-{l + 1 + last}, right of its header)"
        else:
            name = f"(cells {l + 1 + first}-{l + 1 + last}, no header)"
        out.append((l + 1 + first, l + 1 + last, name))
    return out


def main():
    args = sys.argv[1:]
    by_column, pick = False, None
    while args and args[0].startswith("--"):
        if args[0] == "--columns":
            by_column, args = True, args[1:]
        elif args[0] == "--pane" and len(args) > 1:
            by_column, pick, args = True, args[1], args[2:]
        else:
            sys.exit(f"term-bytes-by-pane: unknown option {args[0]}")
    if len(args) < 5:
        sys.exit(__doc__)
    ts, screen, start, end, seconds = args[0], args[1], int(args[2]), int(args[3]), float(args[4])
    top = int(args[5]) if len(args) > 5 else 3
    data = open(ts, "rb").read()
    screen_lines = open(screen, encoding="utf-8", errors="replace").read().splitlines()
    boxes = panes(screen_lines)

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
    # (pane, screen column) -> bytes, and the rows each column was written on
    cells, cell_rows, rows_bytes = {}, {}, {}

    def charge(row, col, nbytes):
        key = pane_of(row, col)
        charged[key] = charged.get(key, 0) + nbytes
        if by_column:
            cells[(key, col)] = cells.get((key, col), 0) + nbytes
            cell_rows.setdefault((key, col), set()).add(row)
            rows_bytes[(key, row)] = rows_bytes.get((key, row), 0) + nbytes
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
                charge(row, col, i - at)
            col += 2 if ch and unicodedata.east_asian_width(ch[0]) in "WF" else 1
            continue
        if at >= start and at < end:
            charge(row, col, i - at)
    total = sum(charged.values()) or 1
    ranked = sorted(charged.items(), key=lambda kv: -kv[1])
    for name, b in ranked[:top]:
        print(f"    {name:<40} {b / seconds:8.0f} B/s  ({100 * b / total:4.1f} %)")
    if not by_column:
        return
    box = None
    for name, _ in ranked:
        cand = [bx for bx in boxes if bx[4] == name and (pick is None or name.startswith(pick))]
        if cand:
            box = cand[0]
            break
    if box is None:
        print(f"    (no pane {pick!r} on the screen)" if pick else "    (no pane took any bytes)")
        return
    cols = columns(screen_lines, box)
    per, rows_of = {}, {}
    pane_total = charged.get(box[4], 0) or 1
    for (key, c), b in cells.items():
        if key != box[4]:
            continue
        if c <= box[1] or c >= box[3]:
            name = "border"
        else:
            # a separator's bytes (cursor moves to the next cell, colour changes) go to
            # the column on its left; before the first column, to the first
            left = [x for x in cols if x[0] <= c]
            name = (left[-1] if left else cols[0])[2] if cols else "(no columns)"
        per[name] = per.get(name, 0) + b
        rows_of.setdefault(name, set()).update(cell_rows[(key, c)])
    print(f"    {box[4]} by column:")
    for name, b in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"      {name:<44} {b / seconds:8.0f} B/s  ({100 * b / pane_total:4.1f} %) on {len(rows_of[name])} rows")
    # and by row, named by the row's first words on SCREEN, for rows that are not a table's
    by_row = {r: b for (key, r), b in rows_bytes.items() if key == box[4]}
    print(f"    {box[4]} by row (the five worst):")
    for r, b in sorted(by_row.items(), key=lambda kv: -kv[1])[:5]:
        text = screen_lines[r][box[1] + 1:box[3]] if r < len(screen_lines) else ""
        label = " ".join(text.replace("▶", " ").split()[:2]) or "(blank)"
        print(f"      row {r + 1:<3} {label[:34]:<34} {b / seconds:8.0f} B/s")


if __name__ == "__main__":
    main()

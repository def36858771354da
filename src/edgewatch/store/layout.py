"""Block format 2: the header flags and the fields of a segment's record."""

from __future__ import annotations

MAGIC = 0xE2
F_DENSE = 0x01  # tick words as byte planes in frame 1, not (gap, value) varints
F_BASED = 0x02  # ids and first ticks relative to the row key's base
F_SPLIT = 0x04  # a second frame holds the low planes of float values
F_LOW = 0x08  # the low bits of the integer words are packed apart (lowbits.py)
FLOAT_LOW = 6  # float values: bytes 0-5 (mantissa) go to frame 2, bytes 6-7 to frame 1
NFIELDS = 10
# One varint each, per segment: id step (zigzag), count, quantum index, first tick
# (zigzag, from the base), step (zigzag), decimals + 1 (0: float), order (0: float),
# divisor, offset (zigzag), first value (zigzag scaled integer; 0 for floats).
ID, COUNT, QIDX, T0, STEP, DEC, ORDER, MULT, OFFSET, FIRST = range(NFIELDS)
MAX_SAMPLES = 1 << 28  # per blob: a sanity bound against corrupt headers

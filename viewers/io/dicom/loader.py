"""Turn the indexed frames of one series into a voxel array, slice by slice."""

from __future__ import annotations

import os
import sys
from collections import defaultdict

import numpy as np

from viewers.io.dicom.geometry import check_consistent, layout
from viewers.io.dicom.pixels import (BadSlice, apply_lut, correct_unused_bits, decode_file,
                                     narrowest_int, plan_dtype, read_native, rescale_into,
                                     rescaled_range, stored_dtype)
from viewers.io.errors import InputError


def load_frames(frames, where, skip_bad=False, progress=None, decoder=decode_file):
    """Read, order and rescale ``frames`` (one series).

    ``decoder(frame.path, frame_numbers)`` yields ``(frame_number, array)`` for frames whose
    bytes cannot be read straight from a file (compressed, or in-memory datasets whose
    ``frame.path`` is only a name).

    Returns
    -------
    array : ndarray (k, j, i)
    affine : (4, 4) ndarray
    warnings : list of str
    ordered : list of Frame
        The frames that made it into ``array``, in slice order.
    """
    check_consistent(frames, where)
    ordered, affine, warnings = layout(frames, where)
    reader = _SliceReader(ordered, skip_bad, progress, decoder)
    array, bad = reader.run()
    if bad:
        good = [f for k, f in enumerate(ordered) if k not in bad]
        if not good:
            first = ordered[min(bad)]
            raise InputError(first.path, f"no readable slice ({bad[min(bad)]})")
        array = _compact(array, sorted(bad))
        ordered, affine, warnings = layout(good, where)
        names = "; ".join(f"{_slice_name(reader.ordered[k])}: {bad[k]}" for k in sorted(bad)[:5])
        warnings.append(f"skipped {len(bad)} unreadable slice(s) (--skip-bad): {names}")
    final = reader.finish(array, sorted(bad))
    if progress is not None and (final is not reader.array):
        # The array changed after the last slice landed (compacted or rescaled at the end).
        progress(final.shape[0], final.shape[0], final)
    array = final
    return array, affine, warnings, ordered


def _slice_name(frame) -> str:
    return frame.path.name if frame.frame == 0 else f"{frame.path.name} frame {frame.frame + 1}"


def _compact(array: np.ndarray, bad: list[int]) -> np.ndarray:
    # Move the good slices down in place (no second volume in memory).
    keep = [k for k in range(array.shape[0]) if k not in set(bad)]
    for new, old in enumerate(keep):
        if new != old:
            array[new] = array[old]
    return array[:len(keep)]


class _SliceReader:
    """Fills the destination slice by slice, reporting progress as slices land."""

    def __init__(self, ordered, skip_bad, progress, decoder=decode_file):
        self.ordered, self.skip_bad, self.progress = ordered, skip_bad, progress
        self.decoder = decoder
        first = ordered[0]
        self.stored = stored_dtype(first)
        self.planned = plan_dtype(ordered)
        buf = self.planned if self.planned is not None else self.stored
        shape = (len(ordered), first.rows, first.cols)
        try:
            self.array = np.empty(shape, buf)
        except MemoryError:  # e.g. a damaged Rows/Columns: say so rather than crash
            gib = np.prod(shape, dtype=np.float64) * buf.itemsize / 2**30
            raise InputError(first.path, f"not enough memory for {shape[0]} x {shape[1]} x "
                                         f"{shape[2]} {buf} voxels ({gib:.1f} GiB)") from None
        self.inplace = buf.itemsize == self.stored.itemsize
        self.scratch = None if self.inplace else np.empty(shape[1:], self.stored)
        self.ranges: dict[int, tuple] = {}
        self.bad: dict[int, str] = {}
        self.done = 0

    def run(self):
        pending = defaultdict(list)
        handle, handle_path, size = None, None, 0
        try:
            for k, frame in enumerate(self.ordered):
                if frame.pixel_offset is None or sys.byteorder != "little":
                    # Compressed or unusual: pydicom decodes it. (Raw bytes go straight
                    # into the array only where the file's byte order is the machine's.)
                    pending[frame.path].append((k, frame))
                    continue
                raw = self._raw(k)
                try:
                    if frame.path != handle_path:
                        if handle is not None:
                            handle.close()
                        handle, handle_path = open(frame.path, "rb"), frame.path
                        size = os.fstat(handle.fileno()).st_size
                    read_native(handle, frame, memoryview(raw).cast("B"), size)
                except OSError as exc:
                    self._fail(k, frame, f"cannot read: {(exc.strerror or str(exc)).lower()}")
                    continue
                except BadSlice as exc:
                    self._fail(k, frame, exc.reason)
                    continue
                self._finish_slice(k, frame, raw)
        finally:
            if handle is not None:
                handle.close()
        for path, items in pending.items():
            self._decode(path, items)
        return self.array, self.bad

    def _raw(self, k):
        return self.array[k].view(self.stored) if self.inplace else self.scratch

    def _decode(self, path, items):
        by_number = {frame.frame: (k, frame) for k, frame in items}
        try:
            for number, arr in self.decoder(path, set(by_number)):
                k, frame = by_number.pop(number)
                if arr.shape != (frame.rows, frame.cols):
                    raise BadSlice(frame, f"decoded shape {arr.shape} is not "
                                          f"{frame.rows}x{frame.cols}")
                raw = self._raw(k)
                np.copyto(raw, arr, casting="unsafe")
                self._finish_slice(k, frame, raw)
        except BadSlice as exc:
            for k, frame in by_number.values():
                self._fail(k, frame, exc.reason)
            return
        for k, frame in by_number.values():
            self._fail(k, frame, "frame missing from the pixel data")

    def _fail(self, k, frame, reason):
        if not self.skip_bad:
            raise InputError(frame.path, reason)
        self.bad[k] = reason

    def _finish_slice(self, k, frame, raw):
        correct_unused_bits(raw, frame)
        if frame.modality_lut is not None:
            np.copyto(self.array[k], apply_lut(raw, frame), casting="unsafe")
        elif self.planned is None:
            self.ranges[k] = (raw.min(), raw.max())
        else:
            rescale_into(raw, self.array[k], frame.slope, frame.intercept)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, len(self.ordered), self.array)

    def finish(self, array, bad):
        """Second pass for series whose dtype depends on the stored values' actual range."""
        if self.planned is not None:
            return array
        keep = [k for k in range(len(self.ordered)) if k not in set(bad)]
        good = [self.ordered[k] for k in keep]
        spans = [rescaled_range(int(self.ranges[k][0]), int(self.ranges[k][1]),
                                self.ordered[k].slope, self.ordered[k].intercept) for k in keep]
        out_dtype = narrowest_int(min(s[0] for s in spans), max(s[1] for s in spans))
        out = array.view(out_dtype) if out_dtype.itemsize == array.dtype.itemsize \
            else np.empty(array.shape, out_dtype)
        for k, f in enumerate(good):
            rescale_into(array[k], out[k], f.slope, f.intercept)
        return out

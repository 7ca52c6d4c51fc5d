"""Pixel data straight into the preallocated volume, rescaled in place.

For an uncompressed little-endian file each frame's bytes are read with ``readinto`` into
its slice of the destination: no per-file dataset, no intermediate copy, so peak memory is
the volume plus one slice. Compressed and unusual files go through pydicom's decoders
(pylibjpeg, openjpeg, RLE, pyjpegls plugins), one file at a time.

Rescale: with integer slope and intercept the result stays an integer of the narrowest
dtype that holds every rescaled value. When that dtype has the stored dtype's width the
arithmetic runs in place on the same bytes; integer arithmetic is exact modulo 2**bits, so
it is exact whenever the final value fits, whatever the intermediate values. Non-integer
slope or intercept gives float32.
"""

from __future__ import annotations

import numpy as np

from viewers.io.errors import InputError

_INT_DTYPES = [np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32",
                                     "int64")]


class BadSlice(Exception):
    """One frame could not be read; carries the file and the reason."""

    def __init__(self, frame, reason: str):
        super().__init__(reason)
        self.frame, self.reason = frame, reason


def stored_dtype(frame) -> np.dtype:
    """The dtype of the stored values."""
    if frame.bits_allocated not in (8, 16, 32):
        raise InputError(frame.path, f"{frame.bits_allocated}-bit pixels are not supported")
    return np.dtype(f"{'i' if frame.signed else 'u'}{frame.bits_allocated // 8}")


def _stored_range(frame) -> tuple[int, int]:
    bits = frame.bits_stored if 0 < frame.bits_stored <= frame.bits_allocated \
        else frame.bits_allocated
    if frame.signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _is_int(x: float) -> bool:
    return float(x).is_integer()


def narrowest_int(lo: float, hi: float) -> np.dtype:
    """The narrowest integer dtype holding every integer in ``[lo, hi]``."""
    for dt in _INT_DTYPES:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    raise ValueError("range exceeds int64")


def rescaled_range(lo, hi, slope, intercept) -> tuple[float, float]:
    a, b = lo * slope + intercept, hi * slope + intercept
    return min(a, b), max(a, b)


def plan_dtype(frames) -> np.dtype | None:
    """Output dtype from the headers, or None when only the stored values can decide.

    None means: the theoretical rescaled range needs a wider integer than the stored one
    (e.g. 16-bit signed CT with intercept -1024); the loader then reads the stored values
    first and chooses from their actual range, which nearly always fits in place.
    """
    if frames[0].modality_lut is not None:
        return apply_lut(np.zeros((1, 1), stored_dtype(frames[0])), frames[0]).dtype
    pairs = {(f.slope, f.intercept) for f in frames}
    if not all(_is_int(s) and _is_int(b) for s, b in pairs):
        return np.dtype(np.float32)
    lo, hi = _stored_range(frames[0])
    ranges = [rescaled_range(lo, hi, s, b) for s, b in pairs]
    try:
        out = narrowest_int(min(r[0] for r in ranges), max(r[1] for r in ranges))
    except ValueError:  # absurd slope/intercept: only floats hold it
        return np.dtype(np.float32)
    return None if out.itemsize > stored_dtype(frames[0]).itemsize else out


def apply_lut(raw: np.ndarray, frame) -> np.ndarray:
    """The Modality LUT's output for stored values ``raw`` (pydicom's implementation)."""
    from pydicom.pixels import apply_modality_lut

    return apply_modality_lut(raw, frame.modality_lut)


def correct_unused_bits(raw: np.ndarray, frame) -> None:
    """Clear (or sign-extend over) the bits above BitsStored, in place, as pydicom does."""
    shift = frame.bits_allocated - frame.bits_stored
    if 0 < shift < frame.bits_allocated:
        np.left_shift(raw, shift, out=raw)
        np.right_shift(raw, shift, out=raw)


def rescale_into(raw: np.ndarray, out: np.ndarray, slope: float, intercept: float) -> None:
    """``out[...] = raw * slope + intercept``; ``out`` may be a view of ``raw``'s bytes."""
    if out.dtype.kind == "f":
        if slope == 1 and intercept == 0:
            np.copyto(out, raw, casting="unsafe")
        else:
            np.copyto(out, raw.astype(np.float64) * slope + intercept, casting="unsafe")
        return
    if not np.shares_memory(raw, out):
        np.copyto(out, raw, casting="unsafe")
    if slope != 1:
        np.multiply(out, _wrapped(slope, out.dtype), out=out)
    if intercept != 0:
        np.add(out, _wrapped(intercept, out.dtype), out=out)


def _wrapped(value: float, dtype: np.dtype) -> np.ndarray:
    # Modulo 2**bits, so that in-place arithmetic on the stored bits stays exact.
    return np.array(int(value), dtype=np.int64).astype(dtype)


def read_native(handle, frame, dest_bytes: memoryview, file_size: int) -> None:
    """Read one uncompressed frame's bytes into ``dest_bytes`` (exactly its length)."""
    need = len(dest_bytes)
    if frame.pixel_length is not None and frame.pixel_length < need * (frame.frame + 1):
        raise BadSlice(frame, f"pixel data holds {frame.pixel_length} bytes, "
                              f"{need * (frame.frame + 1)} expected")
    available = file_size - frame.pixel_offset
    if available < need:
        raise BadSlice(frame, f"truncated file: pixel data has {max(available, 0)} of "
                              f"{need} bytes")
    handle.seek(frame.pixel_offset)
    got = handle.readinto(dest_bytes)
    if got != need:
        raise BadSlice(frame, f"truncated file: read {got} of {need} pixel bytes")


def decode_file(path, frames_wanted: set[int]):
    """Yield ``(frame_number, array)`` for the wanted frames of a file, via pydicom."""
    import warnings

    import pydicom

    try:
        with warnings.catch_warnings():
            # pydicom warns about a cut-off file and reads on; the reason reaches the user
            # as the InputError (or --skip-bad warning) below instead.
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 - pydicom (force=True) fails in many ways
        raise BadSlice(None, "cannot decode pixel data: " + _first_line(exc)) from None
    yield from decode_dataset(ds, frames_wanted)


def decode_dataset(ds, frames_wanted: set[int]):
    """Yield ``(frame_number, array)`` for the wanted frames of an in-memory dataset."""
    from pydicom.pixels import iter_pixels

    try:
        if not any(tag in ds for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009)):
            raise BadSlice(None, "truncated file: the pixel data is cut short")
        if not hasattr(ds, "file_meta"):
            from pydicom.dataset import FileMetaDataset

            ds.file_meta = FileMetaDataset()
        if "TransferSyntaxUID" not in ds.file_meta:
            from viewers.io.dicom.multiframe import transfer_syntax_of

            ds.file_meta.TransferSyntaxUID = transfer_syntax_of(ds)
        for number, arr in enumerate(iter_pixels(ds)):
            if number in frames_wanted:
                yield number, arr
    except (BadSlice, KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 - decoder plugins raise anything, Rust panics too
        raise BadSlice(None, "cannot decode pixel data: " + _first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

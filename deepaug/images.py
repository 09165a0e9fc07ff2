"""Image batches (validation, exact conversion) and single images (decode, crop and resize).

deepaug works on uint8 batches shaped (N, H, W) or (N, H, W, C) with C in {1, 3}, and on
single images (H, W, C), a batch of one.
Internally every batch is (N, H, W, C); `as_nhwc` gives that view and a function that
puts the caller's shape back.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Callable, MutableMapping

from deepaug.errors import ImageError

MAX_PIXELS_VARIABLE = "DEEPAUG_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 10000 x 10000: 300 MB decoded (RGB); a bomb of 20000 x 20000 PNG is 1.2 MB
OPENCV_CAP_VARIABLE = "OPENCV_IO_MAX_IMAGE_PIXELS"  # OpenCV's own cap, read once when cv2 is first imported
OPENCV_CAP_MARK = "DEEPAUG_SET_OPENCV_CAP"  # the value deepaug gave it (a user's own lower cap is kept)


def cap_opencv(environ: MutableMapping[str, str] | None = None) -> None:
    """Lower OpenCV's own decode cap ($OPENCV_IO_MAX_IMAGE_PIXELS, default 2**30) to deepaug's limit, so that
    libjpeg and the other codecs refuse whatever size their own header reader finds, before allocating.

    OpenCV reads the variable once, when cv2 is loaded: this runs before deepaug's first `import cv2` (deepaug's
    packages import cv2 through this module first) and its setting reaches the worker processes it starts. A
    lower cap of the user's own is kept; one deepaug set follows deepaug's limit (a worker whose limit differs
    from its parent's)."""
    environ = os.environ if environ is None else environ
    text = environ.get(MAX_PIXELS_VARIABLE, str(DEFAULT_MAX_PIXELS))
    if not text.isdigit() or int(text) < 1:  # refused with its reason by max_pixels() when an image is read
        return
    current = environ.get(OPENCV_CAP_VARIABLE, "")
    ours = environ.get(OPENCV_CAP_MARK) == current  # set by deepaug (here or in a parent): follows its limit
    if not current.isdigit() or int(current) > int(text) or ours:
        environ[OPENCV_CAP_VARIABLE] = environ[OPENCV_CAP_MARK] = text


cap_opencv()
import cv2  # noqa: E402  (after cap_opencv: OpenCV reads its cap when loaded)
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

MIN_SIDE = 1
CHANNELS = (1, 3)


def check_batch(images: object, name: str = "images") -> np.ndarray:
    """Return `images` as a uint8 ndarray of rank 3 or 4, or raise ImageError.

    Refuses other dtypes rather than guessing a scale: see `to_uint8` for the
    conversions that are exact.
    """
    if not isinstance(images, np.ndarray):
        raise ImageError(
            f"{name} must be a numpy array, got {type(images).__name__}; "
            "pass np.asarray(your_images, dtype=np.uint8)"
        )
    if images.dtype != np.uint8:
        raise ImageError(
            f"{name} must have dtype uint8, got {images.dtype}; convert with "
            "deepaug.images.to_uint8(images), which accepts exact integer values in "
            "[0, 255] and floats in [0, 1] or [0, 255]"
        )
    if images.ndim not in (3, 4):
        raise ImageError(
            f"{name} must have shape (N, H, W) or (N, H, W, C), got shape {images.shape}; "
            "for a single image use images[None]"
        )
    if images.shape[0] == 0:
        raise ImageError(f"{name} is an empty batch (shape {images.shape}); pass at least one image")
    if images.shape[1] < MIN_SIDE or images.shape[2] < MIN_SIDE:
        raise ImageError(f"{name} has an empty image side (shape {images.shape})")
    if images.ndim == 4 and images.shape[3] not in CHANNELS:
        fix = {2: "grayscale with alpha: keep the gray channel with images[..., :1]",
               4: "drop alpha with images[..., :3]"}.get(
            images.shape[3], "convert them to grayscale (1 channel) or RGB (3 channels)")
        if images.shape[1] in CHANNELS + (4,):  # (N, C, H, W), as PyTorch lays batches out
            fix = (f"they look channels-first (N, C, H, W), as PyTorch stores them: pass "
                   f"images.transpose(0, 2, 3, 1), shaped {(images.shape[0], *images.shape[2:], images.shape[1])}")
        raise ImageError(
            f"{name} must have 1 or 3 channels in the last axis, got {images.shape[3]} "
            f"(shape {images.shape}); {fix}"
        )
    return images


def as_nhwc(images: np.ndarray, name: str = "images") -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Validate a batch and return its (N, H, W, C) view plus a function restoring its rank.

    One image (H, W, C) with C in {1, 3} is a batch of one: a batch (N, H, W) of grayscale
    images 1 or 3 pixels wide is not a thing, and taking an RGB image for one mixed its channels."""
    if isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[-1] in CHANNELS:
        batch = check_batch(images[None], name)
        return batch, lambda out: out[0]
    images = check_batch(images, name)
    if images.ndim == 3:
        return images[..., None], lambda out: out[..., 0]
    return images, lambda out: out


def not_whole_levels(unit: bool, conversion: str) -> str:
    """The end of the error for float pixels that are not whole 8-bit levels: `unit` when they
    are in [0, 1] (else [0, 255]), with the quantization that fits that range."""
    scale, fix = ("[0, 1]", "np.rint(x * 255)") if unit else ("[0, 255]", "np.rint(x)")
    return (f"float values in {scale} that are not whole 8-bit levels, so {conversion} would lose "
            f"information; quantize them yourself (e.g. {fix}.astype(np.uint8)) if that loss is acceptable")


def to_uint8(images: object, name: str = "images") -> np.ndarray:
    """Convert an image batch to uint8 when the conversion is exact, else raise ImageError.

    - uint8: returned as is.
    - bool: False -> 0, True -> 255.
    - other integer dtypes: accepted when every value is in [0, 255].
    - floats: accepted when finite and either every value is in [0, 1] and value*255 is
      an integer (to within 1e-3), or every value is an integer in [0, 255]. A float
      batch whose maximum is <= 1 is read as [0, 1]-scaled.
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ImageError(
                f"{name} has integer values outside [0, 255] (min {arr.min()}, max {arr.max()}); "
                "rescale them to 0..255 first"
            )
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size == 0:
            return arr.astype(np.uint8)
        if not np.isfinite(arr).all():
            raise ImageError(f"{name} contains NaN or infinite values; clean them before augmenting")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 255:
            raise ImageError(
                f"{name} has float values outside [0, 255] (min {lo:g}, max {hi:g}); "
                "deepaug expects pixel values in [0, 1] or [0, 255]"
            )
        scaled = arr * 255.0 if hi <= 1.0 else arr
        rounded = np.rint(scaled)
        if np.abs(scaled - rounded).max() > 1e-3:
            raise ImageError(f"{name} has {not_whole_levels(hi <= 1.0, 'converting them to uint8')}")
        return rounded.astype(np.uint8)
    raise ImageError(f"{name} has dtype {arr.dtype}, which is not an image type; use uint8")


# ---------------------------------------------------------------- single images

def check_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    pair = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                                 for v in pair):
        raise ImageError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return int(pair[0]), int(pair[1])


def crop_resize_to(image: np.ndarray, size: tuple[int, int] | None, square_crop: bool) -> np.ndarray:
    """Centre-crop to a square when asked, then resize to `size` (INTER_AREA when shrinking)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if square_crop:
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top:top + side, left:left + side]
    if size is not None and image.shape[:2] != size:
        shrinking = size[0] <= image.shape[0] and size[1] <= image.shape[1]
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (size[1], size[0]), interpolation=interp)
    return np.ascontiguousarray(image)


def crop_resize(image: np.ndarray, size: int | tuple[int, int] | None, square_crop: bool = False) -> np.ndarray:
    """One image as the folder loader prepares it: optional centre square crop, then resize to `size`.

    Returns (H, W) for grayscale and (H, W, 3) for colour, like `decode_image`.
    """
    return crop_resize_to(image, check_size(size), square_crop)


def max_pixels() -> int:
    """The largest image (width x height) deepaug decodes: $DEEPAUG_MAX_IMAGE_PIXELS, default 100,000,000."""
    text = os.environ.get(MAX_PIXELS_VARIABLE)
    if text is None:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise ImageError(f"{MAX_PIXELS_VARIABLE}={text!r} must be a positive whole number of pixels")
    return int(text)


def image_size(data: bytes | bytearray | memoryview | np.ndarray) -> tuple[int, int] | None:
    """(width, height) from an encoded image's header, without decoding it; None when it cannot be read.

    Two readers, and the larger answer wins, so that a header one of them misreads cannot pass for small:
    deepaug's own (PNG, BMP, JPEG: the JPEG walk skips stray bytes before a marker as libjpeg does) and
    Pillow's. A size over Pillow's bomb limit that it does not spell out comes back as (its limit + 1, 1)."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    sizes = [size for size in (_own_size(raw), _pil_size(raw)) if size is not None]
    return max(sizes, key=lambda size: size[0] * size[1]) if sizes else None


def _own_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"BM" and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(int.from_bytes(data[22:26], "little",
                                                                                                signed=True))
    if data[:2] == b"\xff\xd8":
        frame = _jpeg_frame(data)
        return frame[:2] if frame else None
    return None


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) from a JPEG's frame header (SOF0..SOF15 but DHT, JPG, DAC), walking its
    marker segments as libjpeg's next_marker does: bytes that are not a marker (stray bytes, FF 00) are
    skipped, FF fill bytes too."""
    i, n = 2, len(data)
    while True:
        i = data.find(b"\xff", i)
        while 0 <= i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i < 0 or i >= n:
            return None
        marker, i = data[i], i + 1
        if marker in (0x00, 0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # not a marker (stuffed), or no length
            continue
        if marker in (0xD9, 0xDA) or i + 2 > n:  # image or scan before any frame header
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 3:i + 5], "big"),
                    data[i + 7] if i + 8 <= n else 0) if i + 7 <= n else None
        i += int.from_bytes(data[i:i + 2], "big")


def _pil_size(data: bytes) -> tuple[int, int] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                return image.size
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit (2 x about 89 million pixels)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        return (int(found.group(1)), 1) if found else (2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1, 1)
    except Exception:  # not an image Pillow knows, or a header it cannot read
        return None


UNREADABLE_HEADER = ("its header could not be read, so it is not decoded (corrupt, or not a PNG, JPEG, BMP, "
                     "WebP or TIFF image)")


def header_problem(data: bytes | bytearray | memoryview | np.ndarray) -> str | None:
    """Why an encoded image must not be decoded, or None: its header says it is larger than `max_pixels()`
    (a decompression bomb: a small file that decodes to gigabytes), or no header reader can read its size
    (an unknown size is never decoded)."""
    size = image_size(data)
    limit = max_pixels()
    if size is None:
        return UNREADABLE_HEADER
    if size[0] * size[1] > limit:
        shown = f"{size[0]}x{size[1]}" if size[1] > 1 else str(size[0])
        return f"{shown} pixels, over the limit of {limit} ({MAX_PIXELS_VARIABLE}); resize it or raise the limit"
    return None


REDUCED_DECODES = {8: (cv2.IMREAD_REDUCED_GRAYSCALE_8, cv2.IMREAD_REDUCED_COLOR_8),
                   4: (cv2.IMREAD_REDUCED_GRAYSCALE_4, cv2.IMREAD_REDUCED_COLOR_4),
                   2: (cv2.IMREAD_REDUCED_GRAYSCALE_2, cv2.IMREAD_REDUCED_COLOR_2)}


def decode_flags(data: bytes | bytearray | memoryview | np.ndarray, shrink_to: tuple[int, int] | None) -> int:
    """OpenCV's flags for decoding `data`: a JPEG that will be shrunk to `shrink_to` (height, width) anyway is
    decoded at 1/8, 1/4 or 1/2 of its size by libjpeg's DCT scaling (an average over blocks: memory and time
    fall by up to 64x) when its shorter side stays at least the longer side of `shrink_to`; else full size."""
    raw = bytes(memoryview(data)[:2]) if not isinstance(data, np.ndarray) else data[:2].tobytes()
    if shrink_to is None or raw != b"\xff\xd8":
        return cv2.IMREAD_ANYCOLOR
    frame = _jpeg_frame(data.tobytes() if isinstance(data, np.ndarray) else bytes(data))
    if frame is None or frame[2] not in (1, 3):  # gray or YCbCr colour: what IMREAD_ANYCOLOR gives too
        return cv2.IMREAD_ANYCOLOR
    for factor, (gray, colour) in REDUCED_DECODES.items():
        if min(frame[:2]) // factor >= max(shrink_to):
            return gray if frame[2] == 1 else colour
    return cv2.IMREAD_ANYCOLOR


def decode_checked(data: bytes | bytearray | memoryview | np.ndarray, shrink_to: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray | None, str | None]:
    """Decode encoded image bytes as RGB (H, W, 3) or grayscale (H, W) uint8: (image, None), or (None, why not).

    The header is checked first (`header_problem`); OpenCV's own cap (`cap_opencv`) then refuses any size its
    codec finds over the limit, before allocating it. `shrink_to`: the caller resizes to this (height, width)
    next, so a large JPEG may be decoded reduced (`decode_flags`)."""
    problem = header_problem(data)
    if problem is not None:
        return None, problem
    buffer = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, decode_flags(data, shrink_to)) if buffer.size else None
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE" in str(exc):  # the codec read a size over OpenCV's cap, set from deepaug's limit
            cap = os.environ.get(OPENCV_CAP_VARIABLE, "its default")
            return None, (f"its decoder found it over the limit of {cap} pixels ({OPENCV_CAP_VARIABLE}, set from "
                          f"{MAX_PIXELS_VARIABLE} when deepaug was imported); resize it or raise the limit")
        return None, "corrupt or not an image (cannot be decoded)"
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        return None, "corrupt or not an image (cannot be decoded)"
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image, None


def decode_image(data: bytes | bytearray | memoryview | np.ndarray, checked: bool = False) -> np.ndarray | None:
    """Decode encoded image bytes (PNG, JPEG, BMP, ...) as RGB (H, W, 3) or grayscale (H, W) uint8, or None
    when they cannot or must not be (`decode_checked` says why). `checked` is kept for old callers: the
    header is always checked."""
    return decode_checked(data)[0]


def read_image_file(path: Path, shrink_to: tuple[int, int] | None = None) -> tuple[np.ndarray | None, str | None]:
    """Decode one file as RGB (H, W, 3) or grayscale (H, W) uint8: (image, None), or (None, why not);
    `shrink_to` as in `decode_checked`."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"
    return decode_checked(data, shrink_to)

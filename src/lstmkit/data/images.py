"""Reading the user's images of a line of handwriting: one grayscale array, or a one-line
error.

Limits: at most ``max_pixels`` (default 20 megapixels, checked from the header before
anything is decoded), at least 8 pixels high, and some ink; see :func:`read_line_image`.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .files import check_user_file

__all__ = ["read_line_image", "MAX_PIXELS", "MIN_HEIGHT"]

MAX_PIXELS = 20_000_000
"""The default size limit of one image (pixels): a line of digits needs far fewer, and a
decoded 20-megapixel image already takes 80 MB as float32."""

MIN_HEIGHT = 8
"""Lower than this (pixels) holds no readable digit."""

_WHAT = "a readable image (PNG, JPEG, ...)"


def read_line_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as a (height, width) float32 array in [0, 1], dark ink on a light
    background (an image of light ink on dark is inverted: the background is the median).

    Transparent pixels count as white paper; colour is mixed to gray; a photo's EXIF
    orientation is applied. The size is checked from the header, before decoding, so a
    decompression bomb (a small file of enormous dimensions) is refused cheaply.

    Args:
        path: the file.
        max_pixels: the largest width x height accepted.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a directory, an empty file, not an image, more than ``max_pixels``,
            lower than 8 pixels, or no ink (a blank image); one line naming the file.
        ImportError: Pillow is not installed (``pip install 'lstmkit[handwriting]'``).

    Example:
        >>> import os, tempfile, numpy as np
        >>> from PIL import Image
        >>> p = os.path.join(tempfile.mkdtemp(), "line.png")
        >>> a = np.full((28, 60), 255, np.uint8); a[8:20, 10:14] = 0  # a dark stroke on white
        >>> Image.fromarray(a).save(p)
        >>> x = read_line_image(p)
        >>> x.shape, x.dtype, float(x.min()), float(x.max())
        ((28, 60), dtype('float32'), 0.0, 1.0)
    """
    p = check_user_file(path, _WHAT)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    try:
        from PIL import Image, ImageOps
    except ImportError as e:  # pragma: no cover
        raise ImportError("reading images needs Pillow: pip install 'lstmkit[handwriting]'") from e

    def too_big(w: int, h: int) -> ValueError:
        size = f"{w} x {h} pixels ({w * h / 1e6:.0f} megapixels)" if w else f"{h / 1e6:.0f} megapixels"
        return ValueError(f"{p} is {size}; the limit is {max_pixels / 1e6:g} megapixels (max_pixels): crop it "
                          f"to the line of digits or scale it down")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning and decoder chatter: the size is checked here
        try:
            im = Image.open(p)  # lazy: reads the header only
        except Image.DecompressionBombError as e:  # beyond Pillow's own limit, refused at open
            import re

            n = re.search(r"\((\d+) pixels\)", str(e))
            raise too_big(0, int(n.group(1)) if n else 0) from None
        except Exception as e:  # Pillow raises many kinds for broken files (OSError, SyntaxError, ...)
            raise ValueError(f"{p}: not {_WHAT} ({type(e).__name__})") from None
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise too_big(w, h)
            try:
                a = _gray(ImageOps.exif_transpose(im))
            except Exception as e:  # a truncated or corrupt body
                raise ValueError(f"{p}: not {_WHAT} ({type(e).__name__})") from None
    h, w = a.shape
    if h < MIN_HEIGHT or w < 2:
        raise ValueError(f"{p} is {w} x {h} pixels: too small to hold a line of digits (at least {MIN_HEIGHT} "
                         f"pixels high and 2 wide)")
    if np.median(a) < 0.5:  # light ink on a dark background
        a = 1.0 - a
    if a.max() - a.min() < 0.2 or a.min() >= 0.8:
        raise ValueError(f"{p} is blank: no ink found (the darkest pixel is {a.min():.2f}, the lightest "
                         f"{a.max():.2f}, on a 0-1 scale); check that it is the right image")
    return a


def _gray(im) -> np.ndarray:
    """A Pillow image as float32 gray in [0, 1], transparency composited on white."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit gray: scale by the range used
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=1.0, posinf=1.0, neginf=0.0)
        top = 1.0 if im.mode == "F" and a.max(initial=0) <= 1 else 255.0 if a.max(initial=0) <= 255 else 65535.0
        return np.clip(a / top, 0.0, 1.0)
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.float32) / 255.0

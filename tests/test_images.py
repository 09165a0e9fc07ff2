"""Exact conversion of image batches to uint8, and refusal of lossy ones."""
import re

import numpy as np
import pytest

from deepaug.errors import ImageError
from deepaug.images import check_batch, to_uint8


def test_exact_conversions():
    v = np.arange(256)
    np.testing.assert_array_equal(to_uint8(v.astype(np.int64)), v)
    np.testing.assert_array_equal(to_uint8(v.astype(np.float32)), v)
    np.testing.assert_array_equal(to_uint8(v / 255.0), v)
    np.testing.assert_array_equal(to_uint8(np.array([True, False])), [255, 0])


@pytest.mark.parametrize("values, message", [
    (np.array([0.0, 0.5004, 1.0]), "not whole 8-bit levels"),
    (np.array([0.0, 10.5, 200.0]), "not whole 8-bit levels"),
    (np.array([-1, 3]), "outside \\[0, 255\\]"),
    (np.array([0.0, 300.0]), "outside \\[0, 255\\]"),
    (np.array([0.0, np.nan]), "NaN"),
    (np.array(["a"]), "not an image type"),
])
def test_lossy_conversions_are_refused(values, message):
    with pytest.raises(ImageError, match=message):
        to_uint8(values)


@pytest.mark.parametrize("x", [np.array([0.0, 0.5004, 1.0]), np.array([0.0, 10.5, 200.0, 254.6])])
def test_the_quantization_a_refusal_suggests_fits_the_range_of_the_values(x):
    # [0, 1] floats need x * 255, [0, 255] floats do not: the suggested line must give the
    # nearest 8-bit levels, not values that wrap around
    with pytest.raises(ImageError) as refused:
        to_uint8(x)
    fix = re.search(r"e\.g\. (np\.rint\(.*?\)\.astype\(np\.uint8\))", str(refused.value)).group(1)
    quantized = eval(fix, {"np": np, "x": x})
    np.testing.assert_array_equal(to_uint8(quantized), np.rint(x * (255 if x.max() <= 1 else 1)))


@pytest.mark.parametrize("channels, advice", [(2, r"images\[\.\.\., :1\]"), (4, r"images\[\.\.\., :3\]"),
                                              (5, "grayscale \\(1 channel\\) or RGB")])
def test_a_batch_with_other_channels_is_refused_with_its_fix(channels, advice):
    with pytest.raises(ImageError, match=f"got {channels} .*{advice}"):
        check_batch(np.zeros((2, 8, 8, channels), np.uint8))


@pytest.mark.parametrize("channels", [1, 3])
def test_a_channels_first_batch_is_refused_with_the_transpose_that_fixes_it(channels):
    x = np.zeros((2, channels, 8, 12), np.uint8)
    with pytest.raises(ImageError, match=r"channels-first.*images\.transpose\(0, 2, 3, 1\), shaped "
                                         rf"\(2, 8, 12, {channels}\)"):
        check_batch(x)
    assert check_batch(x.transpose(0, 2, 3, 1)).shape == (2, 8, 12, channels)


# ---------------------------------------------------------------- decompression bombs (issue 38)

def jpeg_declaring(width: int, height: int, before_marker: bytes = b"\x00", real: tuple[int, int] = (8, 8)) -> bytes:
    """A real JPEG of `real` (width, height) pixels whose frame header (SOF0) declares width x height, with
    `before_marker` between the segment before it and its marker: libjpeg skips stray bytes there (with a
    warning) and decodes the declared size."""
    import cv2

    small = cv2.imencode(".jpg", np.full(real[::-1], 128, np.uint8))[1].tobytes()
    assert small.count(b"\xff\xc0") == 1
    at = small.index(b"\xff\xc0")
    frame = bytearray(small[at:])
    frame[5:7], frame[7:9] = height.to_bytes(2, "big"), width.to_bytes(2, "big")
    return small[:at] + before_marker + bytes(frame)


@pytest.mark.parametrize("before_marker", [b"\x00", b"\x17\x00\x2a", b"\xff\x00", b"\xff\xff\xff", b""])
def test_a_bomb_is_refused_whatever_stands_before_its_frame_header(before_marker):
    from deepaug.images import decode_checked, header_problem

    bomb = jpeg_declaring(20000, 20000, before_marker)
    assert len(bomb) < 700
    assert "20000x20000 pixels, over the limit of 100000000" in header_problem(bomb)
    image, reason = decode_checked(bomb)
    assert image is None and "20000x20000 pixels, over the limit" in reason


@pytest.mark.parametrize("before_marker", [b"", b"\x00"])
def test_a_real_jpeg_over_the_limit_is_refused_and_one_under_it_decodes(monkeypatch, before_marker):
    import cv2

    from deepaug.images import decode_checked

    real = cv2.imencode(".jpg", np.full((30, 40, 3), 90, np.uint8))[1].tobytes()
    at = real.index(b"\xff\xc0")
    data = real[:at] + before_marker + real[at:]
    image, reason = decode_checked(data)  # under the default limit: decoded, stray byte and all
    assert reason is None and image.shape == (30, 40, 3)
    monkeypatch.setenv("DEEPAUG_MAX_IMAGE_PIXELS", "1000")
    assert decode_checked(data) == (None, "40x30 pixels, over the limit of 1000 (DEEPAUG_MAX_IMAGE_PIXELS); "
                                          "resize it or raise the limit")


def test_an_image_whose_size_no_header_reader_can_read_is_not_decoded(tmp_path):
    import cv2

    from deepaug.images import decode_checked, decode_image, read_image_file

    radiance = cv2.imencode(".hdr", np.full((6, 5, 3), 0.5, np.float32))[1].tobytes()
    assert cv2.imdecode(np.frombuffer(radiance, np.uint8), cv2.IMREAD_ANYCOLOR).shape == (6, 5, 3)  # OpenCV can
    image, reason = decode_checked(radiance)
    assert image is None and reason.startswith("its header could not be read, so it is not decoded")
    assert decode_image(radiance) is None and decode_image(radiance, checked=True) is None
    (tmp_path / "x.png").write_bytes(radiance)
    assert read_image_file(tmp_path / "x.png") == (None, reason)


def test_opencv_s_own_cap_is_lowered_to_deepaugs_limit_and_never_raised():
    from deepaug.images import cap_opencv

    environ = {"DEEPAUG_MAX_IMAGE_PIXELS": "1000"}
    cap_opencv(environ)
    assert environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == "1000"
    environ = {"OPENCV_IO_MAX_IMAGE_PIXELS": "500"}  # lower than deepaug's default: kept
    cap_opencv(environ)
    assert environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == "500"
    environ = {"OPENCV_IO_MAX_IMAGE_PIXELS": "2000000000"}
    cap_opencv(environ)
    assert environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == "100000000"
    environ["DEEPAUG_MAX_IMAGE_PIXELS"] = "200000000"  # raised since (a worker's environment): the cap follows
    cap_opencv(environ)
    assert environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == "200000000"


DECODE_IN_A_FRESH_PROCESS = """
import resource, sys
import deepaug
import cv2, numpy as np
data = open(sys.argv[1], "rb").read()
try:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR)
    print("decoded", image.shape)
except cv2.error as exc:
    print("refused", "CV_IO_MAX_IMAGE_PIXELS" in str(exc))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_opencv_itself_refuses_an_image_over_deepaugs_limit_once_deepaug_is_imported(tmp_path):
    # the decoder's own cap, whatever deepaug's header readers make of the file: a real 40x30 JPEG under a limit
    # of 1000 pixels, decoded by cv2 directly in a process that imported deepaug first
    import os
    import subprocess
    import sys

    import cv2

    path = tmp_path / "real.jpg"
    path.write_bytes(cv2.imencode(".jpg", np.full((30, 40, 3), 90, np.uint8))[1].tobytes())
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    outputs = {}
    for limit in ("1000", "1200"):
        env["DEEPAUG_MAX_IMAGE_PIXELS"] = limit
        run = subprocess.run([sys.executable, "-c", DECODE_IN_A_FRESH_PROCESS, str(path)], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        outputs[limit] = run.stdout.splitlines()[0]
    assert outputs == {"1000": "refused True", "1200": "decoded (30, 40, 3)"}


@pytest.mark.parametrize("channels", [1, 3])
def test_a_large_jpeg_shrunk_anyway_is_decoded_reduced_and_matches_the_full_decode(tmp_path, monkeypatch, channels):
    import cv2

    from _images import natural_batch
    from deepaug.images import crop_resize_to, decode_checked, read_image_file

    picture = natural_batch(1, 96, 128, 3, seed=3)[0]
    picture = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY) if channels == 1 else picture
    path = tmp_path / "big.jpg"
    path.write_bytes(cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
    full, _ = decode_checked(path.read_bytes())
    flags = []
    imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda buffer, flag: flags.append(flag) or imdecode(buffer, flag))
    for size, square, expected in [((8, 8), True, cv2.IMREAD_REDUCED_COLOR_8), ((24, 40), False,
                                                                                 cv2.IMREAD_REDUCED_COLOR_2),
                                   ((50, 50), True, cv2.IMREAD_ANYCOLOR), (None, False, cv2.IMREAD_ANYCOLOR)]:
        reduced, reason = read_image_file(path, size)
        if expected != cv2.IMREAD_ANYCOLOR and channels == 1:
            expected -= 1  # IMREAD_REDUCED_GRAYSCALE_n: a gray JPEG stays (H, W)
        assert reason is None and flags[-1] == expected and reduced.ndim == full.ndim
        ours, theirs = crop_resize_to(reduced, size, square), crop_resize_to(full, size, square)
        assert ours.shape == theirs.shape
        assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 3  # an area average either way

"""DetectLabels' IMAGE_PROPERTIES feature: quality (brightness, sharpness, contrast), dominant
colours, and the same for the foreground and the background.

- Brightness: mean luminance, 0-100.
- Sharpness: variance of the Laplacian of the luminance at 512 px on the longer side, on a log
  scale: ``100 * log10(1 + var) / log10(3001)``, capped at 100. On COCO photos the median is about
  85 (5th percentile 60); the same photos blurred (Gaussian sigma 2) score about 25.
- Contrast: RMS contrast, the standard deviation of luminance over half the range, 0-100.
- DominantColors: k-means (k-means++ with a fixed seed, so answers are repeatable) over the
  pixels at 96 px, clusters merged by CSS colour name, largest share first; each with its RGB,
  hex code, nearest CSS3 colour name (in CIELAB), a simplified colour family and PixelPercent.
- Foreground: the union of the detected object boxes when there are any, else a centred ellipse
  covering about half the image (ClearSight has no saliency model); Background is the rest.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CSS_COLORS: dict[str, str] = {
    "aliceblue": "F0F8FF", "antiquewhite": "FAEBD7", "aqua": "00FFFF", "aquamarine": "7FFFD4", "azure": "F0FFFF",
    "beige": "F5F5DC", "bisque": "FFE4C4", "black": "000000", "blanchedalmond": "FFEBCD", "blue": "0000FF",
    "blueviolet": "8A2BE2", "brown": "A52A2A", "burlywood": "DEB887", "cadetblue": "5F9EA0",
    "chartreuse": "7FFF00", "chocolate": "D2691E", "coral": "FF7F50", "cornflowerblue": "6495ED",
    "cornsilk": "FFF8DC", "crimson": "DC143C", "darkblue": "00008B", "darkcyan": "008B8B",
    "darkgoldenrod": "B8860B", "darkgray": "A9A9A9", "darkgreen": "006400", "darkkhaki": "BDB76B",
    "darkmagenta": "8B008B", "darkolivegreen": "556B2F", "darkorange": "FF8C00", "darkorchid": "9932CC",
    "darkred": "8B0000", "darksalmon": "E9967A", "darkseagreen": "8FBC8F", "darkslateblue": "483D8B",
    "darkslategray": "2F4F4F", "darkturquoise": "00CED1", "darkviolet": "9400D3", "deeppink": "FF1493",
    "deepskyblue": "00BFFF", "dimgray": "696969", "dodgerblue": "1E90FF", "firebrick": "B22222",
    "floralwhite": "FFFAF0", "forestgreen": "228B22", "gainsboro": "DCDCDC", "ghostwhite": "F8F8FF",
    "gold": "FFD700", "goldenrod": "DAA520", "gray": "808080", "green": "008000", "greenyellow": "ADFF2F",
    "honeydew": "F0FFF0", "hotpink": "FF69B4", "indianred": "CD5C5C", "indigo": "4B0082", "ivory": "FFFFF0",
    "khaki": "F0E68C", "lavender": "E6E6FA", "lavenderblush": "FFF0F5", "lawngreen": "7CFC00",
    "lemonchiffon": "FFFACD", "lightblue": "ADD8E6", "lightcoral": "F08080", "lightcyan": "E0FFFF",
    "lightgoldenrodyellow": "FAFAD2", "lightgray": "D3D3D3", "lightgreen": "90EE90", "lightpink": "FFB6C1",
    "lightsalmon": "FFA07A", "lightseagreen": "20B2AA", "lightskyblue": "87CEFA", "lightslategray": "778899",
    "lightsteelblue": "B0C4DE", "lightyellow": "FFFFE0", "lime": "00FF00", "limegreen": "32CD32",
    "linen": "FAF0E6", "magenta": "FF00FF", "maroon": "800000", "mediumaquamarine": "66CDAA",
    "mediumblue": "0000CD", "mediumorchid": "BA55D3", "mediumpurple": "9370DB", "mediumseagreen": "3CB371",
    "mediumslateblue": "7B68EE", "mediumspringgreen": "00FA9A", "mediumturquoise": "48D1CC",
    "mediumvioletred": "C71585", "midnightblue": "191970", "mintcream": "F5FFFA", "mistyrose": "FFE4E1",
    "moccasin": "FFE4B5", "navajowhite": "FFDEAD", "navy": "000080", "oldlace": "FDF5E6", "olive": "808000",
    "olivedrab": "6B8E23", "orange": "FFA500", "orangered": "FF4500", "orchid": "DA70D6",
    "palegoldenrod": "EEE8AA", "palegreen": "98FB98", "paleturquoise": "AFEEEE", "palevioletred": "DB7093",
    "papayawhip": "FFEFD5", "peachpuff": "FFDAB9", "peru": "CD853F", "pink": "FFC0CB", "plum": "DDA0DD",
    "powderblue": "B0E0E6", "purple": "800080", "red": "FF0000", "rosybrown": "BC8F8F", "royalblue": "4169E1",
    "saddlebrown": "8B4513", "salmon": "FA8072", "sandybrown": "F4A460", "seagreen": "2E8B57",
    "seashell": "FFF5EE", "sienna": "A0522D", "silver": "C0C0C0", "skyblue": "87CEEB", "slateblue": "6A5ACD",
    "slategray": "708090", "snow": "FFFAFA", "springgreen": "00FF7F", "steelblue": "4682B4", "tan": "D2B48C",
    "teal": "008080", "thistle": "D8BFD8", "tomato": "FF6347", "turquoise": "40E0D0", "violet": "EE82EE",
    "wheat": "F5DEB3", "white": "FFFFFF", "whitesmoke": "F5F5F5", "yellow": "FFFF00", "yellowgreen": "9ACD32",
}
SHARP_LOG = math.log10(3001.0)  # a Laplacian variance of 3000 (crisp photo, 95th percentile on COCO) -> 100
_CSS_NAMES = list(CSS_COLORS)
_CSS_RGB = np.array([[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in CSS_COLORS.values()], np.uint8)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB -> (N, 3) float CIELAB."""
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


_CSS_LAB = _lab(_CSS_RGB)


def css_color(rgb: np.ndarray) -> str:
    """The nearest CSS3 colour name (CIELAB distance)."""
    d = np.linalg.norm(_CSS_LAB - _lab(np.asarray(rgb, np.uint8).reshape(1, 3)), axis=1)
    return _CSS_NAMES[int(np.argmin(d))]


def simplified_color(rgb: np.ndarray) -> str:
    """One of black, white, grey, red, orange, yellow, green, blue, purple, pink, brown."""
    hsv = cv2.cvtColor(np.asarray(rgb, np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2HSV_FULL)[0, 0]
    hue, sat, val = float(hsv[0]) * 360.0 / 256.0, float(hsv[1]) / 255.0, float(hsv[2]) / 255.0
    if val < 0.18:
        return "black"
    if sat < 0.15:
        return "white" if val > 0.85 else "grey"
    if hue < 15 or hue >= 340:
        return "pink" if val > 0.8 and sat < 0.5 else "brown" if val < 0.55 else "red"
    if hue < 45:
        return "brown" if val < 0.65 or sat < 0.35 else "orange"
    if hue < 70:
        return "brown" if val < 0.45 else "yellow"
    if hue < 170:
        return "green"
    if hue < 260:
        return "blue"
    if hue < 300:
        return "purple"
    return "pink"


def _kmeans(pixels: np.ndarray, k: int, iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means++ on (N, 3) float pixels -> (centres, labels)."""
    rng = np.random.default_rng(0)
    k = max(1, min(k, len(pixels)))
    centres = [pixels[rng.integers(len(pixels))]]
    for _ in range(1, k):
        d = np.min(((pixels[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        if d.sum() <= 0:
            break
        centres.append(pixels[rng.choice(len(pixels), p=d / d.sum())])
    c = np.array(centres)
    labels = np.zeros(len(pixels), np.int64)
    for _ in range(iterations):
        labels = np.argmin(((pixels[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        for j in range(len(c)):
            members = pixels[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return c, labels


def dominant_colors(rgb: np.ndarray, mask: np.ndarray | None = None, max_colors: int = 10) -> list[dict[str, object]]:
    """Rekognition's DominantColors for the pixels of ``rgb`` under ``mask`` (all when None)."""
    if max_colors <= 0:
        return []
    scale = min(1.0, 96.0 / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    if mask is not None:
        small_mask = cv2.resize(mask.astype(np.uint8), (small.shape[1], small.shape[0]),
                                interpolation=cv2.INTER_NEAREST).astype(bool)
        pixels = small[small_mask]
    else:
        pixels = small.reshape(-1, 3)
    if len(pixels) == 0:
        return []
    centres, labels = _kmeans(pixels.astype(np.float64), max_colors)
    merged: dict[str, list[float]] = {}
    for j, centre in enumerate(centres):
        count = float(np.sum(labels == j))
        if count == 0:
            continue
        name = css_color(np.round(centre).astype(np.uint8))
        entry = merged.setdefault(name, [0.0, 0.0, 0.0, 0.0])
        entry[:3] = [entry[i] + centre[i] * count for i in range(3)]
        entry[3] += count
    colors = []
    for name, (r, g, b, count) in sorted(merged.items(), key=lambda kv: -kv[1][3]):
        rgb_mean = np.round(np.array([r, g, b]) / count).astype(np.uint8)
        red, green, blue = (int(v) for v in rgb_mean)
        colors.append({"Red": red, "Green": green, "Blue": blue, "HexCode": f"#{red:02X}{green:02X}{blue:02X}",
                       "CSSColor": name, "SimplifiedColor": simplified_color(rgb_mean),
                       "PixelPercent": round(100.0 * count / len(pixels), 3)})
    return colors[:max_colors]


def quality(rgb: np.ndarray, mask: np.ndarray | None = None, *, contrast: bool = True) -> dict[str, float]:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, 512.0 / max(grey.shape))
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    keep = np.ones(grey.shape, bool) if mask is None else cv2.resize(
        mask.astype(np.uint8), (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
    if keep.sum() < 4:
        return {"Brightness": 0.0, "Sharpness": 0.0, **({"Contrast": 0.0} if contrast else {})}
    lum = grey[keep].astype(np.float64)
    laplacian = cv2.Laplacian(grey, cv2.CV_64F)[keep]
    result = {"Brightness": round(float(lum.mean()) / 255.0 * 100.0, 3),
              "Sharpness": round(min(100.0, 100.0 * math.log10(1.0 + float(laplacian.var())) / SHARP_LOG), 3)}
    if contrast:
        result["Contrast"] = round(min(100.0, float(lum.std()) / 127.5 * 100.0), 3)
    return result


def foreground_mask(shape: tuple[int, ...], boxes: list[np.ndarray]) -> np.ndarray:
    """Object boxes (pixels x1,y1,x2,y2) when there are any, else a centred ellipse (~half the image)."""
    h, w = shape[:2]
    mask = np.zeros((h, w), np.uint8)
    if boxes:
        for b in boxes:
            x1, y1 = max(0, int(b[0])), max(0, int(b[1]))
            x2, y2 = min(w, math.ceil(b[2])), min(h, math.ceil(b[3]))
            mask[y1:y2, x1:x2] = 1
    if not mask.any():
        axes = (max(1, int(w * 0.4)), max(1, int(h * 0.4)))
        cv2.ellipse(mask, (w // 2, h // 2), axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def image_properties(rgb: np.ndarray, boxes: list[np.ndarray], max_colors: int = 10) -> dict[str, object]:
    """The ImageProperties member of DetectLabels' response."""
    fg = foreground_mask(rgb.shape, boxes)
    bg = ~fg
    return {
        "Quality": quality(rgb),
        "DominantColors": dominant_colors(rgb, None, max_colors),
        "Foreground": {"Quality": quality(rgb, fg, contrast=False),
                       "DominantColors": dominant_colors(rgb, fg, max_colors)},
        "Background": {"Quality": quality(rgb, bg, contrast=False),
                       "DominantColors": dominant_colors(rgb, bg, max_colors)},
    }

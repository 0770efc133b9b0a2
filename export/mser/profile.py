"""onnxruntime as an MSER profile backend: the network's graph (:mod:`export.mser.onnx_float`)
exported once per profile (the batch axis is dynamic) and timed whole, and one graph per layer,
each timed on the design the layers before it give in onnxruntime; plain onnxruntime sessions,
timed like the other backends (median and quartiles of repeated runs); ``onnxruntime_int``: a
quantized model's integer graph, the bundle's ``model.int.onnx`` (:mod:`export.mser.onnx_int`),
timed whole on the datapath's input words (one graph: its layers are not exported apart)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["onnxruntime_mser", "onnxruntime_mser_int"]


def onnxruntime_mser(model_dir: Path) -> Any:
    """Export the graphs of ``model_dir``'s network once (whole, and layer by layer); returns
    ``time(H, start, sigma, repeat, min_run_s) -> (whole, [per layer])`` (:class:`Timing`,
    seconds per channel) from the design ``start = (F, V, U, W)``."""
    import onnxruntime as ort

    from hbf_edge.export.mser.onnx_float import OUTPUTS, export_mser_onnx
    from hbf_edge.kernels.mser.forward import load_mser
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    model = load_mser(model_dir)
    new = lambda path: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        whole = new(export_mser_onnx(model, config, Path(tmp) / "mser.onnx"))
        layers = [new(export_mser_onnx(model, config, Path(tmp) / f"layer{i}.onnx", (i, i + 1)))
                  for i in range(model.n_layers)]

    def time(H: np.ndarray, start: Any, sigma: float, repeat: int, min_run_s: float) -> Any:
        from hbf_edge.bench import time_per_channel

        F, V, U, W = start
        f32 = lambda x: np.ascontiguousarray(x, np.float32)  # noqa: E731
        feed = {"h_re": f32(H.real), "h_im": f32(H.imag), "theta_f": f32(np.angle(F)), "v_re": f32(V.real),
                "v_im": f32(V.imag), "theta_u": f32(np.angle(U)), "w_re": f32(W.real), "w_im": f32(W.imag),
                "sigma": np.full(H.shape[0], sigma, np.float32)}
        per_layer = []
        for sess in layers:
            layer_feed = dict(feed)
            per_layer.append(time_per_channel(lambda: sess.run(None, layer_feed), H.shape[0], repeat, min_run_s))
            feed.update(zip((n[:-len("_out")] for n in OUTPUTS), sess.run(OUTPUTS, layer_feed)))  # the next input
        feed.update({"theta_f": f32(np.angle(F)), "v_re": f32(V.real), "v_im": f32(V.imag), "theta_u": f32(np.angle(U)),
                     "w_re": f32(W.real), "w_im": f32(W.imag)})
        return time_per_channel(lambda: whole.run(None, feed), H.shape[0], repeat, min_run_s), per_layer

    return time


def onnxruntime_mser_int(model_dir: Path) -> Any:
    """Export the integer graph of the quantized ``model_dir`` once; returns ``time(words,
    repeat, min_run_s) -> Timing`` (seconds per channel) on the datapath's input words
    (:meth:`kernels.mser.hardware.MserHwSession.input_words`)."""
    import onnxruntime as ort

    from hbf_edge.export.mser.onnx_int import MSER_INT_INPUTS, export_mser_int_onnx
    from hbf_edge.kernels.mser.hardware import load_mser_hw
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_mser_int_onnx(load_mser_hw(model_dir), config, Path(tmp) / "model.int.onnx")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def time(words: dict[str, np.ndarray], repeat: int, min_run_s: float) -> Any:
        from hbf_edge.bench import time_per_channel

        feed = {k: np.ascontiguousarray(words[k], np.int64) for k in MSER_INT_INPUTS}
        return time_per_channel(lambda: sess.run(None, feed), feed["g"].shape[0], repeat, min_run_s)

    return time

"""What every predictor converter shares: the columns a predictor reads and writes
(``featuresCol``; ``rawPredictionCol``, ``probabilityCol``, ``predictionCol``), the check of its
features vector, the declaration of its outputs on the op's ports, and its ``thresholds``."""

from __future__ import annotations

from keel._bundle import Col
from keel.spark._core import Ctx, param, require


def _predictor_io(stage, available):
    outs = [c for c in (param(stage, n) for n in ("rawPredictionCol", "probabilityCol", "predictionCol")) if c]
    return [param(stage, "featuresCol")], outs


def _features(ctx: Ctx, stage, path: str, n: int) -> Col:
    X = ctx.get(param(stage, "featuresCol"), path)
    require(X.width is not None, f"features column `{X.name}` must be a vector, found {X.dtype}", path)
    require(X.width == n, f"the model was fitted on {n} features, column `{X.name}` has {X.width}", path)
    return X


def _outputs(ctx: Ctx, stage, path: str, n_classes: int | None, probability: bool) -> list[tuple[str, list[str]]]:
    """Binds the model's non-empty output columns to the op's ports and declares them."""
    ports: list[tuple[str, list[str]]] = []
    if n_classes is not None:
        raw = param(stage, "rawPredictionCol")
        # Spark derives `prediction` from `rawPrediction` whenever that column is produced,
        # and through other paths otherwise; keel implements the first.
        require(bool(raw), "rawPredictionCol='' is not supported", path, "keep Spark's default rawPredictionCol")
        names = [str(i) for i in range(n_classes)]
        ports.append(("raw_prediction", [raw]))
        ctx.put(Col(raw, "f64", n_classes, names))
        prob = param(stage, "probabilityCol") if probability else None
        if prob:
            ports.append(("probability", [prob]))
            ctx.put(Col(prob, "f64", n_classes, names))
    pred = param(stage, "predictionCol")
    if pred:
        ports.append(("prediction", [pred]))
        ctx.put(Col(pred, "f64", None, [pred]))
    require(bool(ports), "the model writes no column", path)
    return ports


def _thresholds(ctx: Ctx, stage, node: str, n_classes: int) -> dict:
    if stage.hasParam("thresholds") and stage.isDefined(stage.getParam("thresholds")):
        t = [float(x) for x in param(stage, "thresholds")]
        return {"thresholds": ctx.b.a_f64s(f"{node}/thresholds", t)}
    return {}

"""``stylepedal train``: a style model from style recordings, kept as a user preset."""

from __future__ import annotations

import argparse


def add_train(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal train``."""
    p = subparsers.add_parser(
        "train",
        help="train a style model from one or more style recordings",
        description="Train a style from one or more recordings and keep it as a user preset: "
        "the style's long-term spectrum (which the colour stage EQs the input toward) and a "
        "causal texture network trained on the Gram objective through the engine's own "
        "synthesis, over the built-in guitars (plus optional DI clips of yours).",
    )
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style audio file(s)")
    p.add_argument("--name", required=True, help="preset/model name")
    p.add_argument("--content", nargs="+", metavar="FILE", help="extra content clips (DI)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 400)")
    p.add_argument("--seed", type=int, default=None, help="training seed (default 0)")
    p.add_argument("--texture", type=float, default=None, metavar="AMOUNT",
                   help="share of its learned change the saved model makes, 0-1 (default 0.5; "
                   "lower for a subtler model that keeps more of the notes; as the live "
                   "pedal and render --as-live play)")
    p.add_argument("--render-texture", type=float, default=None, metavar="AMOUNT",
                   help="the same for a render that learns the whole file first, whose "
                   "colour is sharper: 0-1, at most --texture (default 0.25)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import torch

    from ...effect.model.train import TrainConfig
    from ...presets.format import check_name
    from ...presets.train import train_preset

    check_name(args.name)
    torch.set_num_threads(max(1, int(args.threads)))
    settings: dict[str, object] = {}
    for option in ("steps", "seed", "texture", "render_texture"):
        if getattr(args, option) is not None:
            settings[option] = getattr(args, option)
    trained = train_preset(args.name, args.styles, content_paths=args.content or (),
                           config=TrainConfig(**settings))  # type: ignore[arg-type]
    if trained.report is None:
        print(f"{trained.name!r}: the model for these styles and settings was cached; "
              f"preset {trained.path}")
        return 0
    report = trained.report
    b, a = report.heldout_before["style"], report.heldout_after["style"]
    print(
        f"trained {trained.name!r} in {report.seconds:.1f} s: held-out style loss "
        f"{b:.4g} -> {a:.4g}; preset {trained.path}"
    )
    return 0

"""Notebook 08: inputs and targets shifted by one token, and one training step as a loop."""

import math

from matplotlib.patches import FancyArrowPatch, Rectangle

from drawing import (ACCENT_COLOR, CACHE_COLOR, REAL_COLOR, draw_arrow, draw_box, draw_cell, new_figure, note,
                     save)

FILENAME = "08_training_step.png"

WORDS = ["First", " Citizen", ":", "\\n", "Before", " we", " proceed", " any", " further"]  # tiny Shakespeare
COL_X0, COL_W = 4.2, 2.05  # x of the first token's centre, distance between tokens
LOOP_X = [3.3, 9.1, 14.9, 20.7]  # the columns of the training loop
TOP_Y, BOTTOM_Y = 9.4, 5.2  # its two rows
BOX_W, BOX_H = 5.0, 1.7


def token_row(ax, y, first, count, color, label):
    """count tokens t_first, t_first+1, ... in the columns 0..count-1, with their text below them."""
    for col in range(count):
        x = COL_X0 + col * COL_W
        draw_cell(ax, x, y, 1.8, 0.75, f"t{first + col}", color, fontsize=12)
        ax.text(x, y - 0.6, repr(WORDS[first + col]).replace("\\\\", "\\"), ha="center", va="center",
                fontsize=9, family="monospace", color="#555555")
    ax.text(COL_X0 - 1.2, y, label, ha="right", va="center", fontsize=12, linespacing=1.3)


def shift_panel(ax):
    """A window of 9 tokens; the first 8 are the inputs, the last 8 the targets."""
    ax.text(0.2, 21.1, "1. Inputs and targets: the same window, shifted by one token", ha="left", va="center",
            fontsize=13.5, fontweight="bold")
    token_row(ax, 19.7, 0, 9, "white", "window of\nT + 1 = 9 tokens")
    token_row(ax, 17.5, 0, 8, REAL_COLOR, "inputs\n= window[:-1]")
    token_row(ax, 14.6, 1, 8, ACCENT_COLOR, "targets\n= window[1:]")
    for col in range(8):
        x = COL_X0 + col * COL_W
        draw_arrow(ax, (x, 16.85), (x, 15.0), mutation_scale=12, color="#1f5fa8")
    note(ax, COL_X0 + 8 * COL_W, 15.95, "position i\npredicts\ntoken i + 1", fontsize=10.5, color="#1f5fa8")
    note(ax, 12.0, 13.35, "T = 8 positions, so one window gives 8 predictions (8 terms of the loss)", fontsize=11)


def lr_schedule(ax, left, bottom, width, height):
    """A small plot of the learning rate: linear warmup, then cosine decay to a floor."""
    ax.add_patch(Rectangle((left, bottom), width, height, facecolor="white", edgecolor="#888888", linewidth=1.0))
    steps = [i / 100 for i in range(101)]
    warmup, floor = 0.1, 0.1
    lrs = [s / warmup if s < warmup else
           floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (1 - warmup))) for s in steps]
    ax.plot([left + 0.25 + s * (width - 0.5) for s in steps], [bottom + 0.25 + v * (height - 0.7) for v in lrs],
            color="#b0741a", linewidth=2)
    ax.text(left + width / 2, bottom - 0.3, "learning rate: warmup, then cosine decay", ha="center", va="center",
            fontsize=10.5)


def loop_panel(ax):
    """One training step as a loop of eight stages."""
    ax.text(0.2, 12.1, "2. One training step, then the next", ha="left", va="center", fontsize=13.5,
            fontweight="bold")
    top = [("batch\ninputs, targets\n(B, T)", "white"), ("forward\nlogits = model(inputs)", REAL_COLOR),
           ("logits\n(B, T, 50257)", "white"), ("loss: cross-entropy\nlogits vs targets, mean\nover B x T positions",
                                                 ACCENT_COLOR)]
    bottom = [("zero the gradients\noptimizer.zero_grad()", REAL_COLOR),
              ("AdamW step\noptimizer.step()", REAL_COLOR),
              ("clip the gradient norm\nclip_grad_norm_(\nparameters, 1.0)", REAL_COLOR),
              ("backward\nloss.backward()", CACHE_COLOR)]
    for x, (text, color) in zip(LOOP_X, top):
        draw_box(ax, x, TOP_Y, BOX_W, BOX_H, text, color, fontsize=11)
    for x, (text, color) in zip(LOOP_X, bottom):
        draw_box(ax, x, BOTTOM_Y, BOX_W, BOX_H, text, color, fontsize=11)
    for left, right in zip(LOOP_X, LOOP_X[1:]):
        draw_arrow(ax, (left + BOX_W / 2 + 0.05, TOP_Y), (right - BOX_W / 2 - 0.05, TOP_Y))
        draw_arrow(ax, (right - BOX_W / 2 - 0.05, BOTTOM_Y), (left + BOX_W / 2 + 0.05, BOTTOM_Y))
    draw_arrow(ax, (LOOP_X[-1], TOP_Y - BOX_H / 2), (LOOP_X[-1], BOTTOM_Y + BOX_H / 2))
    draw_arrow(ax, (LOOP_X[0], BOTTOM_Y + BOX_H / 2), (LOOP_X[0], TOP_Y - BOX_H / 2))
    ax.text(LOOP_X[0] + 0.2, (TOP_Y + BOTTOM_Y) / 2, "next batch", ha="left", va="center", fontsize=11,
            style="italic")
    ax.add_patch(FancyArrowPatch((LOOP_X[0] + 1.2, TOP_Y + BOX_H / 2), (LOOP_X[3] - 1.2, TOP_Y + BOX_H / 2),
                                 connectionstyle="arc3,rad=-0.12", arrowstyle="-|>", mutation_scale=14,
                                 linestyle="--", color="#555555", linewidth=1.1))
    ax.text((LOOP_X[0] + LOOP_X[3]) / 2, TOP_Y + BOX_H / 2 + 1.15, "targets", ha="center", va="center",
            fontsize=10.5, color="#444444")

    lr_schedule(ax, LOOP_X[1] - 2.3, 1.1, 4.6, 2.0)
    draw_arrow(ax, (LOOP_X[1], 3.1), (LOOP_X[1], BOTTOM_Y - BOX_H / 2))
    ax.text(LOOP_X[1] + 0.15, 3.75, "lr of this step", ha="left", va="center", fontsize=10.5)
    note(ax, LOOP_X[2], 3.3, "if the norm of all gradients\ntogether exceeds 1.0, scale\nthem all down to 1.0",
         fontsize=10.5)
    note(ax, LOOP_X[3], 3.3, "fills .grad of every weight:\nthe gradient of the loss", fontsize=10.5)
    note(ax, LOOP_X[0], 3.3, "otherwise the next backward\nwould add to these gradients", fontsize=10.5)


def draw(path) -> None:
    """Notebook 08: the input/target shift, then batch -> forward -> loss -> backward -> clip -> step -> zero."""
    fig, ax = new_figure(12, 13, (0, 24), (0.4, 21.8), "Training GPT-2: what it learns from, and one step")
    shift_panel(ax)
    loop_panel(ax)
    save(fig, path)

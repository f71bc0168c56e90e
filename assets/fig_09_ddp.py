"""Notebook 09: DistributedDataParallel: one global batch split over 2 ranks, gradients averaged, the same step."""

from matplotlib.patches import FancyBboxPatch

from drawing import ACCENT_COLOR, CACHE_COLOR, REAL_COLOR, draw_arrow, draw_box, draw_cell, new_figure, note, save

FILENAME = "09_ddp_batch.png"

RANKS, MICRO_BATCH, MICRO_STEPS = 2, 4, 2  # 2 ranks x 4 windows x 2 micro-steps = a global batch of 16
N = RANKS * MICRO_BATCH * MICRO_STEPS
RANK_COLORS = [REAL_COLOR, CACHE_COLOR]
CELL_X0, CELL_W = 3.4, 1.1  # the global batch: one cell per window
RANK_X = [7.0, 17.0]  # centre of each rank's column
BOX_W = 8.6


def bracket(ax, left, right, y, text, fontsize=10.5):
    """A bracket under the cells from left to right, with a label below it."""
    ax.plot([left + 0.05, left + 0.05, right - 0.05, right - 0.05], [y + 0.2, y, y, y + 0.2], color="#555555",
            linewidth=1.1)
    ax.text((left + right) / 2, y - 0.3, text, ha="center", va="center", fontsize=fontsize)


def global_batch(ax):
    """The 16 windows of one step, in the order batches_for_step draws them, with each rank's contiguous share."""
    ax.text(CELL_X0, 23.0, "the global batch of step s: 16 windows of T tokens, (16, T)", ha="left", va="center",
            fontsize=12.5, fontweight="bold")
    per_rank = MICRO_BATCH * MICRO_STEPS
    for w in range(N):
        draw_cell(ax, CELL_X0 + (w + 0.5) * CELL_W, 21.7, CELL_W, 1.3, f"w{w}", RANK_COLORS[w // per_rank],
                  fontsize=10)
    for m in range(N // MICRO_BATCH):
        left = CELL_X0 + m * MICRO_BATCH * CELL_W
        bracket(ax, left, left + MICRO_BATCH * CELL_W, 20.85, f"micro-batch {m % MICRO_STEPS + 1}")
    for r in range(RANKS):
        left = CELL_X0 + r * per_rank * CELL_W
        bracket(ax, left, left + per_rank * CELL_W, 19.75, f"rank {r}'s share: {per_rank} windows", fontsize=11.5)
        draw_arrow(ax, (left + per_rank * CELL_W / 2, 19.2), (RANK_X[r], 18.0))


def rank_column(ax, r):
    """What one rank does with its share: two micro-steps of forward and backward, then the common step."""
    x, first = RANK_X[r], r * MICRO_BATCH * MICRO_STEPS
    ax.add_patch(FancyBboxPatch((x - 4.8, 6.9), 9.6, 11.0, boxstyle="round,pad=0.02,rounding_size=0.2",
                                facecolor="#f6f6f6", edgecolor="#888888", linestyle="--", linewidth=1.1, zorder=0))
    ax.text(x, 17.35, f"rank {r}: one process, one GPU", ha="center", va="center", fontsize=12, fontweight="bold")
    draw_box(ax, x, 16.2, BOX_W, 0.9, "a full copy of the model", "white", fontsize=11)
    for m in range(MICRO_STEPS):
        lo = first + m * MICRO_BATCH
        sync = "starts the all-reduce" if m == MICRO_STEPS - 1 else "in no_sync(): .grad stays local"
        y = 14.4 - 2.1 * m
        draw_box(ax, x, y, BOX_W, 1.5, f"micro-step {m + 1}: windows w{lo}..w{lo + MICRO_BATCH - 1}\n"
                 f"forward + backward,\n{sync}", RANK_COLORS[r], fontsize=10.5)
    for top, bottom in ((15.75, 15.15), (13.65, 13.05), (11.55, 11.0), (10.1, 9.5)):
        draw_arrow(ax, (x, top), (x, bottom))
    draw_box(ax, x, 9.0, BOX_W, 1.0, "clip, then the AdamW step: the same update", REAL_COLOR, fontsize=10.5)
    draw_arrow(ax, (x, 8.5), (x, 8.0))
    ax.text(x, 7.55, "the same weights for step s + 1", ha="center", va="center", fontsize=11, style="italic")


def draw(path) -> None:
    """Notebook 09: the global batch, each rank's share and micro-steps, the all-reduce, the identical step."""
    fig, ax = new_figure(12, 12.5, (1.0, 23.0), (3.2, 23.6), "DistributedDataParallel: one global batch over 2 ranks")
    global_batch(ax)
    for r in range(RANKS):
        rank_column(ax, r)

    # The one communication: the gradients' all-reduce, between the two columns.
    draw_box(ax, 12.0, 10.55, 19.6, 0.85, "all-reduce during the last backward: every rank's .grad becomes the "
             "average over the ranks", ACCENT_COLOR, fontsize=11)

    ax.text(12.0, 5.6, "global batch = ranks x micro-batch x micro-steps per rank = 2 x 4 x 2 = 16 windows",
            ha="center", va="center", fontsize=12.5, fontweight="bold")
    note(ax, 12.0, 4.0, "In gpt2lib the global batch is TrainConfig's batch_size x grad_accum (here 4 x 4 = 16) for "
                        "any number of ranks:\nwith 2 ranks each takes 16 / 2 = 8 windows, 2 micro-steps of 4; "
                        "alone, one process runs all 4. Every step is the same.", fontsize=11, linespacing=1.5)
    save(fig, path)

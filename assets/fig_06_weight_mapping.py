"""Notebook 06: Hugging Face's GPT-2 weight names -> ours, the four transposes, and c_attn's q | k | v."""

from matplotlib.patches import FancyBboxPatch, Rectangle

from drawing import ACCENT_COLOR, CACHE_COLOR, MONO, draw_arrow, draw_cell, new_figure, note, save

FILENAME = "06_weight_mapping.png"

HF_X, HF_SHAPE_X, ACTION_X, OURS_X, OURS_SHAPE_X = 0.4, 7.8, 12.0, 14.0, 20.6  # the table's columns
ROW_H = 0.78
TIED_COLOR = "#f6c7c7"
Q_COLOR, K_COLOR, V_COLOR = ACCENT_COLOR, CACHE_COLOR, "#e6d7f2"
# (Hugging Face name, its shape, what to do, our name, our shape); the group rows are inside block N.
TOP_ROWS = [
    ("transformer.wte.weight", "(50257, 768)", "copy", "tok_emb.weight", "(50257, 768)"),
    ("transformer.wpe.weight", "(1024, 768)", "copy", "pos_emb.weight", "(1024, 768)"),
]
BLOCK_ROWS = [
    ("ln_1.weight, ln_1.bias", "(768,)", "copy", "norm1.weight, norm1.bias", "(768,)"),
    ("attn.c_attn.weight", "(768, 2304)", ".T", "attn.qkv.weight", "(2304, 768)"),
    ("attn.c_attn.bias", "(2304,)", "copy", "attn.qkv.bias *", "(2304,)"),
    ("attn.c_proj.weight", "(768, 768)", ".T", "attn.out_proj.weight", "(768, 768)"),
    ("attn.c_proj.bias", "(768,)", "copy", "attn.out_proj.bias", "(768,)"),
    ("ln_2.weight, ln_2.bias", "(768,)", "copy", "norm2.weight, norm2.bias", "(768,)"),
    ("mlp.c_fc.weight", "(768, 3072)", ".T", "mlp.fc.weight", "(3072, 768)"),
    ("mlp.c_fc.bias", "(3072,)", "copy", "mlp.fc.bias", "(3072,)"),
    ("mlp.c_proj.weight", "(3072, 768)", ".T", "mlp.proj.weight", "(768, 3072)"),
    ("mlp.c_proj.bias", "(768,)", "copy", "mlp.proj.bias", "(768,)"),
]
BOTTOM_ROWS = [
    ("transformer.ln_f.weight, .bias", "(768,)", "copy", "final_norm.weight, .bias", "(768,)"),
    ("lm_head.weight (= wte)", "(50257, 768)", "tied", "out_head.weight (= tok_emb)", "(50257, 768)"),
]


def table_row(ax, y, row):
    """One line of the name table; transposed rows get an orange band, the tied row a red one."""
    hf, hf_shape, action, ours, ours_shape = row
    band = {".T": ACCENT_COLOR, "tied": TIED_COLOR}.get(action)
    if band:
        ax.add_patch(Rectangle((0.1, y - ROW_H / 2), 23.6, ROW_H, facecolor=band, edgecolor="none", zorder=0))
    for x, text in ((HF_X, hf), (HF_SHAPE_X, hf_shape), (OURS_X, ours), (OURS_SHAPE_X, ours_shape)):
        ax.text(x, y, text, ha="left", va="center", fontsize=11, **MONO)
    draw_arrow(ax, (ACTION_X - 1.3, y), (ACTION_X + 1.3, y), mutation_scale=13)
    weight = "bold" if action != "copy" else "normal"
    ax.text(ACTION_X, y + 0.05, action, ha="center", va="bottom", fontsize=11, fontweight=weight,
            color="#333333" if action == "copy" else "black")


def draw_table(ax, top):
    """The whole name table, with the rows of block N inside a frame; returns the y below it."""
    for x, text in ((HF_X, "Hugging Face"), (HF_SHAPE_X, "shape"), (OURS_X, "ours"),
                    (OURS_SHAPE_X, "shape")):
        ax.text(x, top, text, ha="left", va="center", fontsize=12, fontweight="bold")
    ax.plot([0.1, 23.7], [top - 0.45, top - 0.45], color="black", linewidth=1.0)
    y = top - 0.45 - ROW_H / 2
    for row in TOP_ROWS:
        table_row(ax, y, row)
        y -= ROW_H
    frame_top = y + ROW_H / 2 - 0.1
    ax.text(HF_X, y - 0.1, "transformer.h.N.  (each block N = 0 .. 11)", ha="left", va="center", fontsize=11,
            fontweight="bold", **MONO)
    ax.text(OURS_X, y - 0.1, "blocks.N.", ha="left", va="center", fontsize=11, fontweight="bold", **MONO)
    y -= ROW_H + 0.1
    for row in BLOCK_ROWS:
        table_row(ax, y, ("  " + row[0],) + row[1:3] + ("  " + row[3],) + row[4:])
        y -= ROW_H
    ax.add_patch(FancyBboxPatch((0.15, y + ROW_H / 2), 23.5, frame_top - y - ROW_H / 2, linestyle="--",
                                boxstyle="round,pad=0.02,rounding_size=0.15", fill=False, edgecolor="#888888"))
    y -= 0.1
    for row in BOTTOM_ROWS:
        table_row(ax, y, row)
        y -= ROW_H
    return y


def draw_c_attn(ax, top):
    """c_attn as one (768, 2304) matrix whose columns are q | k | v, and its transpose, our qkv weight."""
    ax.text(0.4, top, "attn.c_attn.weight is q, k and v side by side", ha="left", va="center", fontsize=13,
            fontweight="bold")
    left, bottom, width, height = 1.4, top - 3.4, 7.2, 2.4  # to scale: 2304 x 768
    for i, (name, color) in enumerate(zip("qkv", (Q_COLOR, K_COLOR, V_COLOR))):
        draw_cell(ax, left + (i + 0.5) * width / 3, bottom + height / 2, width / 3, height,
                  f"{name}\ncolumns\n{768 * i}..{768 * i + 767}", color, fontsize=10.5)
    ax.text(left - 0.25, bottom + height / 2, "768 rows (in)", rotation=90, ha="right", va="center", fontsize=10.5)
    ax.text(left + width / 2, bottom - 0.6, "2304 columns (out)\nConv1D computes x @ W + b", ha="center", va="center",
            fontsize=10.5)
    ax.text(left + width / 2, bottom + height + 0.3, "Hugging Face: (768, 2304) = (in, out)", ha="center",
            va="center", fontsize=10.5, **MONO)

    draw_arrow(ax, (left + width + 0.4, bottom + height / 2), (left + width + 2.4, bottom + height / 2), linewidth=2)
    ax.text(left + width + 1.4, bottom + height / 2 + 0.15, ".T", ha="center", va="bottom", fontsize=14,
            fontweight="bold")

    q_left, q_top, q_w, q_h = 12.6, top - 0.3, 1.5, 4.5  # to scale: 2304 x 768, standing up
    for i, (name, color) in enumerate(zip("qkv", (Q_COLOR, K_COLOR, V_COLOR))):
        draw_cell(ax, q_left + q_w / 2, q_top - (i + 0.5) * q_h / 3, q_w, q_h / 3, name, color, fontsize=12)
    ax.text(q_left + q_w + 0.4, q_top - q_h / 2,
            "ours: attn.qkv.weight, (2304, 768) = (out, in),\nas nn.Linear(768, 2304) stores it\n\n"
            "qkv(x).chunk(3, dim=-1) gives q, k, v:\nrows 0..767 make q, 768..1535 k,\n1536..2303 v",
            ha="left", va="center", fontsize=11, linespacing=1.35)
    ax.text(q_left + q_w / 2, q_top + 0.3, "768 (in)", ha="center", va="center", fontsize=10.5)
    ax.text(q_left - 0.25, q_top - q_h / 2, "2304 rows (out)", rotation=90, ha="right", va="center", fontsize=10.5)
    return q_top - q_h


def draw(path) -> None:
    """Notebook 06: the name table (two embeddings, twelve rows per block, final norm, tied head), then c_attn."""
    title = "Loading GPT-2: Hugging Face's names (GPT2LMHeadModel) -> ours (GPTModel)"
    fig, ax = new_figure(12.5, 11.2, (0, 24), (4.6, 25.6), title)
    y = draw_table(ax, 25.0)
    note(ax, 0.4, y - 0.1, ".T: Hugging Face's GPT-2 computes these four with Conv1D, which stores (in, out); "
                           "nn.Linear stores (out, in).\n"
                           "c_proj of attention is square, (768, 768): without its .T the shapes still fit, "
                           "only a check of the outputs finds it.\n"
                           "* only with qkv_bias=True (GPT-2 has q/k/v biases).   "
                           "tied: lm_head shares wte's tensor, and out_head shares tok_emb's.",
         ha="left", va="top", fontsize=10.5, linespacing=1.5)
    draw_c_attn(ax, y - 2.6)
    save(fig, path)

"""Writes the checkpoint and expected outputs the Rust tests reproduce.

Run from the repository root (committed outputs land in crates/ferrox-nn/tests/fixtures/):

    PYTHONPATH=crates/ferrox-python/python .venv/bin/python \
        crates/ferrox-nn/tests/fixtures_gen/make_fixtures.py
"""
import os

import ferrox.core as mx
import ferrox.nn as nn
import ferrox.optimizers as optim
from ferrox.utils import tree_flatten

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")


class Model(nn.Module):
    """Embedding -> 2-layer encoder -> RMSNorm -> Conv1d -> GELU -> Linear, plus a
    decoder layer and a Conv2d checked on their own."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(11, 8)
        self.encoder = nn.TransformerEncoder(2, 8, 2, mlp_dims=16)
        self.norm = nn.RMSNorm(8)
        self.conv = nn.Conv1d(8, 6, 3, padding=1)
        self.head = nn.Linear(6, 5)
        self.decoder = nn.TransformerDecoderLayer(8, 2, mlp_dims=16, norm_first=False)
        self.conv2 = nn.Conv2d(3, 4, 3, padding=1)

    def __call__(self, tokens, mask):
        h = self.encoder(self.embedding(tokens), mask)
        return self.head(nn.gelu(self.conv(self.norm(h)))), h


def main():
    mx.random.seed(7)
    model = Model()
    tokens = mx.random.randint(0, 11, (2, 5)).astype(mx.int32)
    mask = nn.MultiHeadAttention.create_additive_causal_mask(5)
    out, enc = model(tokens, mask)
    memory = mx.random.normal((2, 3, 8))
    dec = model.decoder(enc, memory, mask, None)
    image = mx.random.normal((1, 4, 4, 3))
    conv2 = model.conv2(image)

    # One Adam and one SGD step on the head's weight with a fixed gradient.
    grad = mx.random.normal(model.head.weight.shape)
    adam = optim.Adam(learning_rate=0.01)
    adam_w = adam.apply_gradients({"w": grad}, {"w": model.head.weight})["w"]
    adam_w = adam.apply_gradients({"w": grad}, {"w": adam_w})["w"]
    sgd = optim.SGD(learning_rate=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    sgd_w = sgd.apply_gradients({"w": grad}, {"w": model.head.weight})["w"]
    sgd_w = sgd.apply_gradients({"w": grad}, {"w": sgd_w})["w"]

    # The loss's gradient for a few parameters (all would triple the fixture's size).
    targets = mx.random.randint(0, 5, (2, 5)).astype(mx.int32)

    def loss_fn(model):
        logits, _ = model(tokens, mask)
        return nn.losses.cross_entropy(logits, targets, reduction="mean")

    loss, grads = nn.value_and_grad(model, loss_fn)(model)
    flat = dict(tree_flatten(grads))
    picked = ["embedding.weight", "encoder.layers.0.attention.query_proj.weight", "encoder.ln.bias", "head.weight"]
    mx.save_safetensors(os.path.join(OUT, "grads.safetensors"), {k: flat[k] for k in picked})

    os.makedirs(OUT, exist_ok=True)
    model.save_weights(os.path.join(OUT, "model.safetensors"))
    arrays = dict(
        tokens=tokens, out=out, encoder_out=enc, memory=memory, decoder_out=dec,
        image=image, conv2_out=conv2, grad=grad, adam_w=adam_w, sgd_w=sgd_w,
        targets=targets, loss=loss,
    )
    for name, a in arrays.items():
        mx.save(os.path.join(OUT, f"{name}.npy"), a)

    # The .npz form of a checkpoint, on a small layer (drawn last: the arrays above stay
    # as they were).
    linear = nn.Linear(3, 2)
    linear.save_weights(os.path.join(OUT, "linear.npz"))
    mx.save(os.path.join(OUT, "linear_out.npy"), linear(mx.ones((4, 3))))

    # Two steps of the other optimizers, from the same weight and gradient.
    others = {
        "adamw_w": optim.AdamW(learning_rate=0.01, weight_decay=0.1),
        "adam_bc_w": optim.Adam(learning_rate=0.01, bias_correction=True),
        "rmsprop_w": optim.RMSprop(learning_rate=0.01),
        "adagrad_w": optim.Adagrad(learning_rate=0.1),
    }
    for name, opt in others.items():
        w = model.head.weight
        for _ in range(2):
            w = opt.apply_gradients({"w": grad}, {"w": w})["w"]
        mx.save(os.path.join(OUT, f"{name}.npy"), w)

    # Parameterless or default-initialised layers and the activations, on one input.
    x = mx.random.normal((2, 3, 8))
    bn = nn.BatchNorm(8)
    misc = {
        "x": x,
        "rope": nn.RoPE(6)(x, offset=3),
        "rope_traditional": nn.RoPE(8, traditional=True)(x),
        "group_norm": nn.GroupNorm(2, 8)(x),
        "group_norm_pytorch": nn.GroupNorm(2, 8, pytorch_compatible=True)(x),
        "batch_norm_train": bn(x),
    }
    bn.eval()
    misc["batch_norm_eval"] = bn(x)
    misc["batch_norm_running_var"] = bn.running_var
    for name in ["relu", "gelu", "gelu_approx", "gelu_fast_approx", "silu", "sigmoid", "tanh",
                 "softplus", "mish", "selu", "relu6", "hardswish", "softsign", "log_sigmoid"]:
        misc[name] = getattr(nn, name)(x)
    misc["softmax"] = nn.softmax(x, axis=-1)
    misc["log_softmax"] = nn.log_softmax(x, axis=-1)
    # Dropout's mask from a known seed (the Rust side seeds the same way).
    mx.random.seed(3)
    misc["dropout_seed3"] = nn.Dropout(0.5)(x)
    mx.save_safetensors(os.path.join(OUT, "misc.safetensors"), misc)


if __name__ == "__main__":
    main()

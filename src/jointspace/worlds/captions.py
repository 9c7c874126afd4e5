"""Captions for a scene: varied templates, synonyms, relations and counts.

Every caption is true of its scene; wording varies ("a crimson disc", "red circle on the left",
"two small stars above a square") so a model must learn the attributes, not the sentences.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jointspace.worlds.scene import Scene, SceneObject
from jointspace.worlds.vocab import (
    COLOURS,
    NUMBER_WORDS,
    SHAPES,
    SIZES,
    horizontal_word,
    vertical_word,
)

_REL_WORDS = {
    "left of": ("left of", "to the left of", "on the left of"),
    "right of": ("right of", "to the right of", "on the right of"),
    "above": ("above", "over", "on top of"),
    "below": ("below", "under", "beneath"),
}
_LEADS = ("a picture of", "an image of", "a photo showing", "a drawing of", "there is")


def make_captions(scene: Scene, rng: np.random.Generator, k: int = 4) -> list[str]:
    """Up to ``k`` distinct captions for ``scene`` (fewer only if the templates run dry)."""
    templates = _SINGLE if len(scene.objects) == 1 else _MULTI
    out: list[str] = []
    for _ in range(k * 6):
        if len(out) == k:
            break
        text = templates[int(rng.integers(len(templates)))](scene, rng)
        if text and scene.scene_text and rng.random() < 0.5:
            text = _with_word(text, scene.scene_text, rng)
        if text and text not in out:
            out.append(text)
    return out


# --- words -----------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def colour_word(colour: str, rng: np.random.Generator) -> str:
    names = COLOURS[colour][1]
    return names[0] if rng.random() < 0.5 else _pick(rng, names[1:])


def shape_word(shape: str, rng: np.random.Generator, plural: bool = False) -> str:
    forms = SHAPES[shape]
    form = forms[0] if rng.random() < 0.5 else _pick(rng, forms[1:])
    return form[1] if plural else form[0]


def article(word: str) -> str:
    """'a' or 'an' before ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj: SceneObject, rng: np.random.Generator, det: str | None = "a") -> str:
    """'a small crimson disc', 'the striped blue box', 'red circle' (det=None)."""
    words = []
    if rng.random() < 0.35:
        words.append(_pick(rng, SIZES[obj.size][1]))
    if obj.texture == "striped" and rng.random() < 0.6:
        words.append("striped")
    words += [colour_word(obj.colour, rng), shape_word(obj.shape, rng)]
    phrase = " ".join(words)
    if det == "a":
        return f"{article(phrase)} {phrase}"
    return f"{det} {phrase}" if det else phrase


def _position_phrase(obj: SceneObject, rng: np.random.Generator) -> str:
    h, v = horizontal_word(obj.x), vertical_word(obj.y)
    choices = []
    if h != "center":
        choices.append(f"on the {h}")
    if v != "middle":
        choices.append(f"at the {v}")
        choices.append(f"near the {v}")
    if h != "center" and v != "middle":
        choices.append(f"in the {v} {h} corner")
    if h == "center" and v == "middle":
        choices.append("in the middle")
        choices.append("in the center")
    return _pick(rng, choices)


def relation(a: SceneObject, b: SceneObject) -> str | None:
    """Where ``a`` is relative to ``b`` when it is clear: left of / right of / above / below."""
    dx, dy = b.x - a.x, b.y - a.y
    if abs(dx) >= abs(dy) and abs(dx) > 0.15:
        return "left of" if dx > 0 else "right of"
    if abs(dy) > abs(dx) and abs(dy) > 0.15:
        return "above" if dy > 0 else "below"
    return None


# --- templates: each returns a caption or None when it does not apply ---------------------------
def _bare(s: Scene, rng) -> str:
    return noun_phrase(s.objects[0], rng, det=_pick(rng, ("a", "a", None)))


def _placed(s: Scene, rng) -> str:
    o = s.objects[0]
    return f"{noun_phrase(o, rng, det=_pick(rng, ('a', None)))} {_position_phrase(o, rng)}"


def _led(s: Scene, rng) -> str:
    return f"{_pick(rng, _LEADS)} {noun_phrase(s.objects[0], rng)}"


def _single(s: Scene, rng) -> str:
    o = s.objects[0]
    phrase = f"{colour_word(o.colour, rng)} {shape_word(o.shape, rng)}"
    lead = _pick(rng, ("one", "a single", "just one", f"only {article(phrase)}"))
    return f"{lead} {phrase}"


def _on_background(s: Scene, rng) -> str:
    bg = {"plain": "plain", "gradient": "shaded", "noisy": "noisy"}[s.background]
    return f"{noun_phrase(s.objects[0], rng)} on a {bg} background"


def _listing(s: Scene, rng) -> str:
    nps = [noun_phrase(o, rng) for o in rng.permutation(np.array(s.objects, dtype=object))]
    body = nps[0] if len(nps) == 1 else ", ".join(nps[:-1]) + " and " + nps[-1]
    lead = _pick(rng, ("", "", f"{NUMBER_WORDS[len(nps)]} shapes: ", "a picture with "))
    return lead + body


def _related(s: Scene, rng) -> str | None:
    pairs = [(a, b) for a in s.objects for b in s.objects if a is not b and relation(a, b)]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    rel = _pick(rng, _REL_WORDS[relation(a, b)])
    return f"{noun_phrase(a, rng, det=_pick(rng, ('a', None)))} {rel} {noun_phrase(b, rng)}"


def _counted(s: Scene, rng) -> str | None:
    by_shape: dict[str, list[SceneObject]] = {}
    for o in s.objects:
        by_shape.setdefault(o.shape, []).append(o)
    groups = [g for g in by_shape.values() if len(g) >= 2]
    if not groups:
        return None
    group = groups[0]
    adj = []
    if len({o.size for o in group}) == 1 and rng.random() < 0.5:
        adj.append(_pick(rng, SIZES[group[0].size][1]))
    if len({o.colour for o in group}) == 1 and rng.random() < 0.7:
        adj.append(colour_word(group[0].colour, rng))
    head = " ".join([NUMBER_WORDS[len(group)], *adj, shape_word(group[0].shape, rng, plural=True)])
    rest = [o for o in s.objects if o not in group]
    if not rest:
        return head
    other = rest[0]
    rels = {relation(o, other) for o in group}
    if len(rels) == 1 and None not in rels and rng.random() < 0.8:
        return f"{head} {_pick(rng, _REL_WORDS[rels.pop()])} {noun_phrase(other, rng)}"
    return f"{head} and {noun_phrase(other, rng)}"


def _with_word(text: str, word: str, rng) -> str:
    return _pick(rng, (
        f'{text} with the word "{word}"',
        f'{text} and the text "{word}"',
        f'{text}, "{word}" written below',
    ))


_SINGLE: list[Callable[[Scene, np.random.Generator], str | None]] = [
    _bare, _placed, _placed, _led, _single, _on_background,
]
_MULTI: list[Callable[[Scene, np.random.Generator], str | None]] = [
    _listing, _listing, _related, _related, _counted,
]

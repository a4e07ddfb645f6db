"""ImageNet-1k classes mapped onto the label taxonomy.

Two kinds of label come out of the classifier:
- group labels (Dog, Cat, Bird, Fish, Snake, Landscape...): the summed probability of every
  ImageNet class in the group (118 dog breeds give one "Dog" probability);
- fine labels: one ImageNet class, named in title case (Golden Retriever, Seashore, Pizza), with
  the group label and its ancestors as parents. Classes that mean a COCO thing are named like the
  detector's label (ImageNet "hotdog" -> Hot Dog) so the two models agree on names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .imagenet_classes import IMAGENET_CLASSES


def _r(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b + 1))


# group label (in label_taxonomy.TAXONOMY) -> its ImageNet class indices
GROUPS: dict[str, tuple[int, ...]] = {
    "Fish": _r(0, 6) + _r(389, 397),
    "Shark": _r(2, 4),
    "Bird": _r(7, 24) + _r(80, 100) + _r(127, 146),
    "Amphibian": _r(25, 32),
    "Turtle": _r(33, 37),
    "Lizard": _r(38, 48),
    "Crocodile": (49, 50),
    "Snake": _r(52, 68),
    "Spider": _r(72, 77),
    "Crab": (*_r(118, 121), 125),
    "Lobster": _r(122, 124),
    "Sea Life": _r(107, 126) + _r(147, 150) + _r(327, 329) + _r(0, 6) + _r(389, 397),
    "Dog": _r(151, 268),
    "Wolf": _r(269, 272),
    "Fox": _r(277, 280),
    "Cat": _r(281, 285),
    "Big Cat": _r(286, 293),
    "Bear": _r(294, 297),
    "Insect": _r(300, 326),
    "Butterfly": _r(321, 326),
    "Rabbit": _r(330, 332),
    "Rodent": _r(333, 338),
    "Horse": (339, 603),
    "Zebra": (340,),
    "Pig": _r(341, 343),
    "Cattle": (345, 346, 347),
    "Sheep": (348, 349),
    "Antelope": _r(350, 353),
    "Primate": _r(365, 384),
    "Elephant": (101, 385, 386),
    "Panda": (387, 388),
    "Mammal": _r(101, 106) + _r(147, 150) + _r(151, 299) + _r(330, 388),
    "Animal": _r(0, 397),
    "Landscape": (970, 972, 974, 975, 976, 977, 978, 979, 980),
    "Water": (973, 975, 977, 978),
    "Outdoors": _r(970, 980),
    "Fruit": _r(948, 957),
    "Vegetable": _r(936, 947),
    "Food": _r(923, 969),
    "Car": (407, 436, 468, 511, 609, 627, 656, 661, 717, 751, 817),
    "Boat": (472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914),
    "Aircraft": (404, 895, 908),
    "Vehicle": (403, 404, 405, 407, 408, 436, 444, 450, 466, 468, 472, 484, 510, 511, 537, 547, 554, 555, 561,
                565, 569, 573, 575, 576, 586, 595, 603, 609, 612, 625, 627, 628, 654, 656, 661, 665, 670, 671, 675,
                690, 705, 717, 724, 734, 751, 757, 779, 780, 802, 803, 812, 814, 817, 820, 829, 833, 847, 864, 866,
                867, 870, 871, 874, 880, 895, 908, 913, 914),
    "Flower": (985, 986),
    "Fungus": _r(991, 997),
}

# ImageNet classes that are a taxonomy label under another name
RENAMED: dict[int, str] = {
    963: "Pizza", 934: "Hot Dog", 954: "Banana", 950: "Orange", 937: "Broccoli", 948: "Apple",
    968: "Cup", 851: "TV", 664: "TV", 620: "Laptop", 681: "Laptop", 673: "Mouse", 508: "Keyboard",
    487: "Mobile Phone", 761: "Remote Control", 651: "Microwave", 859: "Toaster",
    760: "Refrigerator", 896: "Sink", 861: "Toilet", 892: "Clock", 409: "Clock", 530: "Clock",
    883: "Vase", 850: "Teddy Bear", 589: "Hair Drier", 440: "Bottle", 720: "Bottle", 898: "Bottle",
    907: "Bottle", 879: "Umbrella", 414: "Backpack", 831: "Couch", 703: "Bench", 559: "Chair",
    423: "Chair", 765: "Chair", 857: "Chair", 532: "Dining Table", 564: "Bed", 526: "Desk",
    779: "Bus", 874: "Bus", 654: "Bus", 466: "Train", 547: "Train", 565: "Train", 820: "Train",
    867: "Truck", 569: "Truck", 555: "Truck", 675: "Truck", 444: "Bicycle", 671: "Bicycle",
    670: "Motorcycle", 665: "Motorcycle", 920: "Traffic Light", 919: "Road Sign", 704: "Parking Meter",
    795: "Ski", 805: "Ball", 852: "Ball", 768: "Ball", 890: "Ball", 430: "Ball", 522: "Ball", 574: "Ball",
    722: "Ball", 746: "Ball", 752: "Tennis Racket", 457: "Tie",
    906: "Tie", 339: "Horse", 340: "Zebra", 345: "Cow",
}


@dataclass(frozen=True)
class FineLabel:
    name: str
    group: str | None  # the nearest group label, or None


def _title(name: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in name.split())


@cache
def fine_label(index: int) -> FineLabel:
    """The label one ImageNet class reports, and the group it belongs to (nearest first)."""
    groups = [g for g, members in GROUPS.items() if index in members]
    # the most specific group: the one with the fewest members
    group = min(groups, key=lambda g: len(GROUPS[g])) if groups else None
    name = RENAMED.get(index) or _title(IMAGENET_CLASSES[index])
    if group == name:
        group = next((g for g in sorted(groups, key=lambda g: len(GROUPS[g])) if g != name), None)
    return FineLabel(name, group)

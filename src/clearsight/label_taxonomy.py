"""One label taxonomy for DetectLabels: Rekognition-style names, parents, categories and aliases.

Every model class (COCO-80 detector classes, ImageNet classifier groups) maps onto a label here;
a label's ancestors are returned as labels too, like Rekognition does (Dog -> Canine, Mammal,
Animal, Pet). Categories use Rekognition's category names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class LabelInfo:
    name: str
    parents: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


ANIMALS = "Animals and Pets"
VEHICLES = "Vehicles and Automotive"
TRANSPORT = "Transport and Logistics"
FOOD = "Food and Beverage"
FURNITURE = "Furniture and Furnishings"
HOME = "Home and Indoors"
KITCHEN = "Kitchen and Dining"
TECH = "Technology and Computing"
SPORTS = "Sports"
OBJECTS = "Everyday Objects"
APPAREL = "Apparel and Accessories"
PERSON = "Person Description"
NATURE = "Nature and Outdoors"
PLANTS = "Plants and Flowers"
HOBBIES = "Hobbies and Interests"
BUILDINGS = "Buildings and Architecture"
CARE = "Beauty and Personal Care"
PUBLIC_SAFETY = "Public Safety"
TOOLS = "Tools and Machinery"
TEXT = "Text and Documents"
TRAVEL = "Travel and Adventure"


def _labels(*infos: LabelInfo) -> dict[str, LabelInfo]:
    return {info.name: info for info in infos}


L = LabelInfo
TAXONOMY: dict[str, LabelInfo] = _labels(
    # --- roots and intermediate labels -----------------------------------------------------------
    L("Animal", (), (ANIMALS,)),
    L("Mammal", ("Animal",), (ANIMALS,)),
    L("Pet", ("Animal",), (ANIMALS,)),
    L("Canine", ("Mammal",), (ANIMALS,)),
    L("Livestock", ("Animal",), (ANIMALS,)),
    L("Wildlife", ("Animal",), (ANIMALS,)),
    L("Reptile", ("Animal",), (ANIMALS,)),
    L("Amphibian", ("Animal",), (ANIMALS,)),
    L("Fish", ("Animal",), (ANIMALS,)),
    L("Invertebrate", ("Animal",), (ANIMALS,)),
    L("Insect", ("Invertebrate",), (ANIMALS,)),
    L("Sea Life", ("Animal",), (ANIMALS,)),
    L("Primate", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Rodent", ("Mammal",), (ANIMALS,)),
    L("Vehicle", ("Transportation",), (VEHICLES,)),
    L("Transportation", (), (TRANSPORT,)),
    L("Aircraft", ("Vehicle",), (VEHICLES,)),
    L("Watercraft", ("Vehicle",), (VEHICLES,)),
    L("Furniture", (), (FURNITURE,)),
    L("Food", (), (FOOD,)),
    L("Fruit", ("Food", "Plant", "Produce"), (FOOD,)),
    L("Vegetable", ("Food", "Plant", "Produce"), (FOOD,)),
    L("Produce", ("Food",), (FOOD,)),
    L("Plant", (), (PLANTS,)),
    L("Dessert", ("Food",), (FOOD,)),
    L("Meal", ("Food",), (FOOD,)),
    L("Electronics", (), (TECH,)),
    L("Computer Hardware", ("Electronics", "Hardware"), (TECH,)),
    L("Hardware", ("Electronics",), (TECH,)),
    L("Appliance", ("Electrical Device",), (HOME,)),
    L("Electrical Device", (), (TECH,)),
    L("Sport", (), (SPORTS,)),
    L("Sports Equipment", (), (SPORTS,)),
    L("Accessories", (), (APPAREL,)),
    L("Bag", ("Accessories",), (APPAREL,)),
    L("Cutlery", (), (KITCHEN,)),
    L("Tableware", (), (KITCHEN,)),
    L("Toy", (), (HOBBIES,)),
    L("Sign", ("Symbol",), (TEXT,)),
    L("Symbol", (), (TEXT,)),
    L("Road Sign", ("Sign",), (TRANSPORT,)),
    L("Outdoors", (), (NATURE,)),
    L("Nature", (), (NATURE,)),
    L("Landscape", ("Nature", "Outdoors"), (NATURE,)),
    L("Water", (), (NATURE,)),
    L("Indoors", (), (HOME,)),
    L("Building", ("Architecture",), (BUILDINGS,)),
    L("Architecture", (), (BUILDINGS,)),
    L("Clothing", (), (APPAREL,)),
    L("Musical Instrument", (), (HOBBIES,)),
    L("Tool", (), (TOOLS,)),
    L("Weapon", (), (PUBLIC_SAFETY,)),
    L("Container", (), (OBJECTS,)),
    # --- COCO-80 things ---------------------------------------------------------------------------
    L("Person", (), (PERSON,), ("Human",)),
    L("Bicycle", ("Vehicle",), (VEHICLES,), ("Bike",)),
    L("Car", ("Vehicle",), (VEHICLES,), ("Automobile",)),
    L("Motorcycle", ("Vehicle",), (VEHICLES,), ("Motorbike",)),
    L("Airplane", ("Aircraft",), (VEHICLES,), ("Aeroplane", "Jet")),
    L("Bus", ("Vehicle",), (VEHICLES,)),
    L("Train", ("Vehicle",), (VEHICLES,), ("Railway",)),
    L("Truck", ("Vehicle",), (VEHICLES,), ("Lorry",)),
    L("Boat", ("Watercraft",), (VEHICLES,)),
    L("Traffic Light", ("Light",), (TRANSPORT,), ("Stoplight",)),
    L("Light", (), (HOME,)),
    L("Fire Hydrant", ("Hydrant",), (PUBLIC_SAFETY,)),
    L("Hydrant", (), (PUBLIC_SAFETY,)),
    L("Stop Sign", ("Road Sign",), (TRANSPORT,)),
    L("Parking Meter", (), (TRANSPORT,)),
    L("Bench", ("Furniture",), (FURNITURE,)),
    L("Bird", ("Animal",), (ANIMALS,)),
    L("Cat", ("Mammal", "Pet"), (ANIMALS,), ("Kitten",)),
    L("Dog", ("Canine", "Pet"), (ANIMALS,), ("Puppy",)),
    L("Horse", ("Mammal", "Livestock"), (ANIMALS,)),
    L("Sheep", ("Mammal", "Livestock"), (ANIMALS,)),
    L("Cow", ("Cattle",), (ANIMALS,)),
    L("Cattle", ("Mammal", "Livestock"), (ANIMALS,)),
    L("Elephant", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Bear", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Zebra", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Giraffe", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Backpack", ("Bag",), (APPAREL,)),
    L("Umbrella", ("Accessories",), (APPAREL,)),
    L("Handbag", ("Bag",), (APPAREL,), ("Purse",)),
    L("Tie", ("Accessories",), (APPAREL,), ("Necktie",)),
    L("Suitcase", ("Luggage",), (TRAVEL,)),
    L("Luggage", ("Bag",), (TRAVEL,)),
    L("Frisbee", ("Toy",), (SPORTS,)),
    L("Ski", ("Sports Equipment",), (SPORTS,)),
    L("Snowboard", ("Sports Equipment",), (SPORTS,)),
    L("Ball", ("Sports Equipment",), (SPORTS,)),
    L("Kite", ("Toy",), (HOBBIES,)),
    L("Baseball Bat", ("Sports Equipment",), (SPORTS,)),
    L("Baseball Glove", ("Sports Equipment",), (SPORTS,)),
    L("Skateboard", ("Sports Equipment",), (SPORTS,)),
    L("Surfboard", ("Sports Equipment",), (SPORTS,)),
    L("Tennis Racket", ("Racket",), (SPORTS,)),
    L("Racket", ("Sports Equipment",), (SPORTS,)),
    L("Bottle", ("Container",), (FOOD,)),
    L("Wine Glass", ("Glass",), (KITCHEN,)),
    L("Glass", ("Tableware",), (KITCHEN,)),
    L("Cup", ("Tableware",), (KITCHEN,)),
    L("Fork", ("Cutlery",), (KITCHEN,)),
    L("Knife", ("Cutlery",), (KITCHEN,)),
    L("Spoon", ("Cutlery",), (KITCHEN,)),
    L("Bowl", ("Tableware",), (KITCHEN,)),
    L("Banana", ("Fruit",), (FOOD,)),
    L("Apple", ("Fruit",), (FOOD,)),
    L("Sandwich", ("Meal",), (FOOD,)),
    L("Orange", ("Citrus Fruit",), (FOOD,)),
    L("Citrus Fruit", ("Fruit",), (FOOD,)),
    L("Broccoli", ("Vegetable",), (FOOD,)),
    L("Carrot", ("Vegetable",), (FOOD,)),
    L("Hot Dog", ("Meal",), (FOOD,)),
    L("Pizza", ("Meal",), (FOOD,)),
    L("Donut", ("Dessert",), (FOOD,), ("Doughnut",)),
    L("Cake", ("Dessert",), (FOOD,)),
    L("Chair", ("Furniture",), (FURNITURE,)),
    L("Couch", ("Furniture",), (FURNITURE,), ("Sofa",)),
    L("Potted Plant", ("Plant",), (PLANTS,), ("Houseplant",)),
    L("Bed", ("Furniture",), (FURNITURE,)),
    L("Dining Table", ("Table",), (FURNITURE,)),
    L("Table", ("Furniture",), (FURNITURE,)),
    L("Toilet", (), (HOME,)),
    L("TV", ("Screen", "Electronics"), (TECH,), ("Television",)),
    L("Screen", ("Electronics",), (TECH,)),
    L("Laptop", ("Computer",), (TECH,)),
    L("Computer", ("Electronics",), (TECH,)),
    L("Mouse", ("Computer Hardware",), (TECH,), ("Computer Mouse",)),
    L("Remote Control", ("Electronics",), (TECH,)),
    L("Keyboard", ("Computer Hardware",), (TECH,), ("Computer Keyboard",)),
    L("Mobile Phone", ("Phone", "Electronics"), (TECH,), ("Cell Phone",)),
    L("Phone", ("Electronics",), (TECH,)),
    L("Microwave", ("Appliance",), (KITCHEN,)),
    L("Oven", ("Appliance",), (KITCHEN,)),
    L("Toaster", ("Appliance",), (KITCHEN,)),
    L("Sink", (), (HOME,)),
    L("Refrigerator", ("Appliance",), (KITCHEN,), ("Fridge",)),
    L("Book", ("Publication",), (TEXT,)),
    L("Publication", (), (TEXT,)),
    L("Clock", (), (HOME,)),
    L("Vase", ("Pottery", "Jar"), (HOME,)),
    L("Pottery", (), (HOME,)),
    L("Jar", ("Container",), (HOME,)),
    L("Scissors", ("Tool",), (OBJECTS,)),
    L("Teddy Bear", ("Toy",), (HOBBIES,)),
    L("Hair Drier", ("Appliance",), (CARE,), ("Hair Dryer",)),
    L("Toothbrush", ("Brush",), (CARE,)),
    L("Brush", ("Tool",), (CARE,)),
    # --- ImageNet groups and scenes (see imagenet_labels.py) ---------------------------------------
    L("Shark", ("Fish", "Sea Life"), (ANIMALS,)),
    L("Turtle", ("Reptile",), (ANIMALS,)),
    L("Lizard", ("Reptile",), (ANIMALS,)),
    L("Crocodile", ("Reptile",), (ANIMALS,)),
    L("Snake", ("Reptile",), (ANIMALS,)),
    L("Spider", ("Invertebrate",), (ANIMALS,)),
    L("Crab", ("Sea Life", "Invertebrate"), (ANIMALS,)),
    L("Lobster", ("Sea Life", "Invertebrate"), (ANIMALS,)),
    L("Wolf", ("Canine", "Wildlife"), (ANIMALS,)),
    L("Fox", ("Canine", "Wildlife"), (ANIMALS,)),
    L("Big Cat", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Butterfly", ("Insect",), (ANIMALS,)),
    L("Rabbit", ("Mammal",), (ANIMALS,)),
    L("Pig", ("Mammal", "Livestock"), (ANIMALS,)),
    L("Antelope", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Panda", ("Mammal", "Wildlife"), (ANIMALS,)),
    L("Flower", ("Plant",), (PLANTS,)),
    L("Fungus", ("Plant",), (PLANTS,)),
    L("Seashore", ("Landscape", "Water"), (NATURE,), ("Beach", "Coast")),
    L("Lakeside", ("Landscape", "Water"), (NATURE,), ("Lake",)),
    L("Valley", ("Landscape",), (NATURE,)),
    L("Alp", ("Landscape",), (NATURE,), ("Mountain",)),
    L("Volcano", ("Landscape",), (NATURE,), ("Mountain",)),
    L("Cliff", ("Landscape",), (NATURE,)),
    L("Promontory", ("Landscape",), (NATURE,)),
    L("Sandbar", ("Landscape", "Water"), (NATURE,)),
    L("Geyser", ("Landscape",), (NATURE,)),
    L("Coral Reef", ("Sea Life", "Water"), (NATURE,)),
    L("Desk", ("Furniture", "Table"), (FURNITURE,)),
)

# COCO-80 in the detector's output order -> label name
COCO_LABELS: tuple[str, ...] = (
    "Person", "Bicycle", "Car", "Motorcycle", "Airplane", "Bus", "Train", "Truck", "Boat", "Traffic Light",
    "Fire Hydrant", "Stop Sign", "Parking Meter", "Bench", "Bird", "Cat", "Dog", "Horse", "Sheep", "Cow",
    "Elephant", "Bear", "Zebra", "Giraffe", "Backpack", "Umbrella", "Handbag", "Tie", "Suitcase", "Frisbee",
    "Ski", "Snowboard", "Ball", "Kite", "Baseball Bat", "Baseball Glove", "Skateboard", "Surfboard",
    "Tennis Racket", "Bottle", "Wine Glass", "Cup", "Fork", "Knife", "Spoon", "Bowl", "Banana", "Apple",
    "Sandwich", "Orange", "Broccoli", "Carrot", "Hot Dog", "Pizza", "Donut", "Cake", "Chair", "Couch",
    "Potted Plant", "Bed", "Dining Table", "Toilet", "TV", "Laptop", "Mouse", "Remote Control", "Keyboard",
    "Mobile Phone", "Microwave", "Oven", "Toaster", "Sink", "Refrigerator", "Book", "Clock", "Vase", "Scissors",
    "Teddy Bear", "Hair Drier", "Toothbrush",
)

# COCO's own class names, in the same order (labels.json and YOLO files use these)
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)


def info(name: str) -> LabelInfo:
    return TAXONOMY.get(name) or LabelInfo(name)


@cache
def ancestors(name: str) -> tuple[str, ...]:
    """Every ancestor of a label, nearest first, without repeats."""
    found: list[str] = []
    frontier = list(info(name).parents)
    while frontier:
        parent = frontier.pop(0)
        if parent not in found:
            found.append(parent)
            frontier.extend(info(parent).parents)
    return tuple(found)


def categories(name: str) -> tuple[str, ...]:
    own = info(name).categories
    return own or tuple(dict.fromkeys(c for a in ancestors(name) for c in info(a).categories))

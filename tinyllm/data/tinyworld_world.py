"""The fixed TinyWorld: its word lists and the facts that tie them together.

The world is built once, from ``WORLD_SEED``, and never changes: every document that
``tinyllm.data.tinyworld`` samples (with the caller's seed) talks about this same world, so a
model has to memorise it (each person has exactly one home town, one job, one pet, one favourite
food and one friend; each town lies in one country; each animal makes one sound; each food has
one taste). Only the documents are random; the facts are not.

Every entry of every list is a single word token (letters and digits only), so that a word
tokenizer that splits on spaces and punctuation recovers the generator's tokens exactly.
"""

from dataclasses import dataclass

import numpy as np

WORLD_SEED = 20261128

FEMALE_NAMES = (
    "Anna", "Bella", "Clara", "Dora", "Emma", "Fiona", "Greta", "Hana", "Iris", "Julia",
    "Kira", "Lena", "Mia", "Nora", "Olga", "Paula",
)
MALE_NAMES = (
    "Adam", "Ben", "Carl", "Dan", "Eric", "Felix", "Gus", "Hugo", "Ivan", "Jack",
    "Karl", "Leo", "Max", "Nick", "Omar", "Paul",
)
CITIES = (
    "Tolmar", "Brindle", "Caskport", "Dunmere", "Elmgate", "Fennick", "Glenhollow", "Harrowby",
    "Ironvale", "Juniper", "Kestrel", "Larkspur", "Millbrook", "Northwick", "Oakridge", "Pinecrest",
)
COUNTRIES = ("Norland", "Sudria", "Estovia", "Westmark")
JOBS = (
    "baker", "teacher", "doctor", "farmer", "painter", "pilot", "nurse", "singer", "writer",
    "builder", "cook", "dentist", "driver", "fisher", "gardener", "judge", "sailor", "tailor",
    "artist", "actor", "engineer",
)
# animal -> the sound it makes; pets are drawn from the first ten.
ANIMALS = {
    "cat": "meow", "dog": "woof", "horse": "neigh", "goat": "maa", "duck": "quack", "owl": "hoot",
    "frog": "croak", "pig": "oink", "mouse": "squeak", "snake": "hiss", "cow": "moo",
    "sheep": "baa", "lion": "roar", "bear": "growl", "wolf": "howl", "bee": "buzz",
}
PET_ANIMALS = tuple(ANIMALS)[:10]
# food -> taste
FOODS = {
    "apples": "sweet", "bananas": "sweet", "bread": "plain", "butter": "salty", "cake": "sweet",
    "carrots": "crunchy", "cheese": "salty", "cherries": "sour", "cookies": "sweet",
    "corn": "crunchy", "eggs": "plain", "grapes": "sweet", "honey": "sweet", "lemons": "sour",
    "melons": "juicy", "noodles": "plain", "oranges": "juicy", "pasta": "plain", "peaches": "juicy",
    "pears": "juicy", "pies": "sweet", "plums": "sour", "potatoes": "plain", "rice": "plain",
    "salad": "crunchy", "soup": "salty", "tomatoes": "juicy", "beans": "plain", "nuts": "crunchy",
    "pancakes": "sweet",
}
COLOURS = (
    "red", "blue", "green", "yellow", "white", "black", "brown", "pink", "orange", "purple",
    "gray", "gold",
)
OBJECTS = (
    "lamp", "chair", "table", "book", "cup", "spoon", "clock", "bag", "hat", "key", "ball", "box",
    "brush", "coat", "drum", "fork", "kite", "ladder", "mirror", "pen", "pillow", "plate", "rope",
    "shoe", "umbrella", "basket", "bottle", "bucket", "candle", "bell", "blanket", "compass",
    "hammer", "jar", "kettle", "mug", "necklace", "scarf", "teapot", "whistle", "anchor", "bowl",
    "crayon", "feather", "glove", "lantern", "marble", "napkin", "puzzle", "ribbon", "saddle",
    "shovel",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PLACES = (
    "market", "park", "school", "library", "harbor", "station", "museum", "bakery", "beach",
    "theater", "zoo", "square", "cinema", "bridge", "castle", "church", "gym", "farm", "port",
    "mill",
)
MOODS = (
    "fine", "happy", "tired", "busy", "calm", "hungry", "sleepy", "cheerful", "bored", "well",
    "sick", "excited", "nervous", "proud", "relaxed", "grumpy", "thirsty", "lonely", "curious",
    "worried",
)

# Reviews: sentiment is carried by many words (two adjectives and a closing sentence), never one.
POSITIVE = (
    "wonderful", "brilliant", "charming", "delightful", "excellent", "fantastic", "fresh", "funny",
    "gentle", "gorgeous", "graceful", "great", "joyful", "lovely", "magical", "marvelous",
    "moving", "pleasant", "perfect", "powerful", "splendid", "stunning", "superb", "terrific",
    "thrilling", "touching", "warm", "witty", "beautiful", "clever", "elegant", "generous",
    "glorious", "inspiring", "memorable", "refreshing", "remarkable", "satisfying", "amazing",
    "lively", "tender", "superior", "heavenly", "flawless", "radiant", "captivating", "dazzling",
    "enchanting", "exquisite", "fabulous", "gripping", "hilarious", "impressive", "masterful",
    "outstanding", "poignant", "sublime", "vivid", "wholesome", "winning",
)
NEGATIVE = (
    "awful", "bad", "bland", "boring", "clumsy", "cold", "confusing", "disappointing", "dreadful",
    "dull", "empty", "flat", "forgettable", "grim", "harsh", "horrible", "lazy", "lifeless",
    "mediocre", "messy", "miserable", "noisy", "painful", "pointless", "poor", "shallow", "silly",
    "sloppy", "stale", "stiff", "stupid", "tedious", "terrible", "ugly", "unpleasant", "weak",
    "weird", "annoying", "cheap", "greasy", "soggy", "tasteless", "slow", "rude", "gloomy",
    "bloated", "chaotic", "clunky", "dismal", "drab", "feeble", "insipid", "lousy", "muddled",
    "overcooked", "predictable", "rancid", "tiresome", "uneven", "wooden",
)
MOVIE_ASPECTS = (
    "acting", "story", "music", "ending", "camera", "dialogue", "pacing", "script", "cast", "plot",
    "costumes", "scenery", "soundtrack", "humour",
)
FOOD_ASPECTS = (
    "taste", "smell", "service", "price", "portion", "sauce", "texture", "plating", "aroma",
    "freshness", "temperature", "menu",
)
TITLE_FIRST = (
    "Silent", "Golden", "Hidden", "Last", "Lost", "Broken", "Dark", "Secret", "Quiet", "Wild",
    "Frozen", "Burning", "Little", "Endless", "Crimson", "Silver", "Hollow", "Distant", "Final",
    "Lonely", "Sleeping", "Falling", "Iron", "Velvet", "Midnight", "Northern", "Electric", "Paper",
    "Glass", "Forgotten", "Scarlet", "Ancient", "Bitter", "Copper", "Emerald", "Restless",
    "Painted", "Savage", "Twisted", "Wandering", "Hungry", "Rusty", "Hollowed", "Shining",
    "Stolen",
)
TITLE_SECOND = (
    "River", "Garden", "Door", "Road", "Mountain", "Island", "Kingdom", "Forest", "Castle",
    "Tower", "Ocean", "Window", "Bridge", "Valley", "Storm", "Winter", "Summer", "Star", "Moon",
    "Train", "Harbor", "Letter", "Mirror", "Dream", "Shadow", "Crown", "Lantern", "Voyage",
    "Machine", "Orchard", "Circus", "Desert", "Empire", "Fortune", "Glacier", "Horizon", "Journey",
    "Labyrinth", "Meadow", "Promise", "Kite", "Festival", "Warrior", "Secretary", "Compass",
)
MOVIE_ENDINGS = {
    "positive": (
        ("I", "would", "watch", "it", "again"), ("I", "loved", "every", "minute"),
        ("everyone", "should", "see", "it"), ("it", "made", "my", "week"),
        ("I", "left", "with", "a", "smile"), ("a", "true", "gem"),
        ("I", "will", "tell", "my", "friends"), ("what", "a", "treat"),
    ),
    "negative": (
        ("I", "want", "my", "money", "back"), ("I", "almost", "fell", "asleep"),
        ("nobody", "should", "see", "it"), ("it", "ruined", "my", "week"),
        ("I", "left", "before", "the", "end"), ("a", "total", "mess"),
        ("I", "will", "warn", "my", "friends"), ("what", "a", "waste"),
    ),
}
FOOD_ENDINGS = {
    "positive": (
        ("I", "will", "come", "back", "soon"), ("I", "cleaned", "my", "plate"),
        ("the", "best", "meal", "in", "years"), ("my", "family", "loved", "it"),
        ("worth", "every", "coin"), ("I", "asked", "for", "more"),
    ),
    "negative": (
        ("I", "will", "never", "go", "back"), ("I", "left", "most", "of", "it"),
        ("the", "worst", "meal", "in", "years"), ("my", "family", "hated", "it"),
        ("not", "worth", "a", "coin"), ("I", "asked", "for", "a", "refund"),
    ),
}
GREETINGS = (("hello",), ("hi",), ("good", "morning"), ("good", "evening"), ("hey",),
             ("greetings",))
CLOSINGS = (
    ("see", "you", "later"), ("have", "a", "nice", "day"), ("thank", "you"),
    ("good", "to", "know"), ("take", "care"), ("bye", "for", "now"), ("sleep", "well"),
    ("until", "tomorrow"),
)
STORY_ACTIONS = ("bought", "found", "made", "won", "borrowed", "painted")
TRANSLATE_VERBS = ("eats", "sees", "likes", "finds", "wants", "smells", "carries", "takes")
PROGRAM_VARS = ("x", "y", "z", "n", "m", "k")

# News: the topic is carried by its own subjects, verbs, objects and adjectives.
NEWS = {
    "sports": {
        "subjects": (("the", "home", "team"), ("the", "young", "runner"), ("the", "coach"),
                     ("the", "captain"), ("the", "swimmer"), ("the", "goalkeeper"),
                     ("the", "boxer"), ("the", "cyclist")),
        "verbs": ("won", "lost", "played", "finished", "entered", "joined"),
        "objects": (("the", "final"), ("the", "race"), ("the", "match"), ("the", "league"),
                    ("the", "tournament"), ("the", "championship"), ("the", "marathon"),
                    ("the", "derby")),
        "adjectives": ("fast", "tough", "fierce", "athletic", "sporty", "competitive"),
    },
    "weather": {
        "subjects": (("a", "storm"), ("heavy", "rain"), ("a", "cold", "wind"), ("thick", "fog"),
                     ("a", "heat", "wave"), ("fresh", "snow"), ("a", "thunderstorm"),
                     ("strong", "hail")),
        "verbs": ("hit", "covered", "flooded", "soaked", "froze", "battered"),
        "objects": (("the", "valley"), ("the", "coast"), ("the", "hills"), ("the", "streets"),
                    ("the", "fields"), ("the", "rooftops"), ("the", "roads"), ("the", "meadows")),
        "adjectives": ("wet", "windy", "stormy", "chilly", "humid", "foggy"),
    },
    "music": {
        "subjects": (("the", "band"), ("the", "choir"), ("the", "orchestra"),
                     ("a", "famous", "pianist"), ("the", "drummer"), ("a", "violinist"),
                     ("the", "guitarist"), ("a", "folk", "duo")),
        "verbs": ("performed", "recorded", "sang", "composed", "rehearsed", "released"),
        "objects": (("a", "new", "song"), ("an", "old", "ballad"), ("the", "symphony"),
                    ("an", "album"), ("the", "concert"), ("a", "lullaby"), ("an", "opera"),
                    ("a", "melody")),
        "adjectives": ("loud", "musical", "rhythmic", "melodic", "harmonious", "catchy"),
    },
    "science": {
        "subjects": (("a", "team", "of", "scientists"), ("the", "professor"),
                     ("a", "chemist"), ("the", "laboratory"), ("an", "astronomer"),
                     ("a", "biologist"), ("the", "physicist"), ("a", "student")),
        "verbs": ("discovered", "measured", "studied", "tested", "observed", "published"),
        "objects": (("a", "new", "comet"), ("a", "strange", "molecule"), ("the", "experiment"),
                    ("a", "theory"), ("the", "data"), ("a", "rare", "mineral"),
                    ("a", "tiny", "cell"), ("the", "telescope")),
        "adjectives": ("surprising", "important", "precise", "scientific", "curious", "complex"),
    },
    "farming": {
        "subjects": (("the", "farmers"), ("a", "shepherd"), ("the", "harvest", "crew"),
                     ("the", "beekeeper"), ("a", "tractor", "driver"), ("the", "orchard", "owner"),
                     ("a", "dairy", "farmer"), ("the", "miller")),
        "verbs": ("planted", "harvested", "watered", "plowed", "sold", "gathered"),
        "objects": (("the", "wheat"), ("the", "barley"), ("the", "seeds"), ("the", "hay"),
                    ("the", "pumpkins"), ("the", "crops"), ("the", "vineyard"),
                    ("the", "sunflowers")),
        "adjectives": ("rural", "fertile", "muddy", "abundant", "seasonal", "earthy"),
    },
    "town": {
        "subjects": (("the", "mayor"), ("the", "council"), ("the", "police"),
                     ("a", "local", "shop"), ("the", "fire", "brigade"), ("the", "bank"),
                     ("the", "post", "office"), ("a", "charity")),
        "verbs": ("opened", "closed", "announced", "approved", "repaired", "funded"),
        "objects": (("a", "new", "road"), ("the", "town", "hall"), ("a", "playground"),
                    ("the", "budget"), ("a", "hospital"), ("the", "old", "fountain"),
                    ("a", "bus", "line"), ("the", "city", "wall")),
        "adjectives": ("civic", "official", "public", "municipal", "orderly", "busy"),
    },
    "health": {
        "subjects": (("the", "nurses"), ("a", "surgeon"), ("the", "clinic"), ("a", "pharmacist"),
                     ("the", "health", "minister"), ("a", "medical", "team"), ("the", "dentists"),
                     ("a", "therapist")),
        "verbs": ("treated", "vaccinated", "examined", "cured", "screened", "diagnosed"),
        "objects": (("the", "patients"), ("a", "fever"), ("the", "flu"), ("a", "broken", "leg"),
                    ("the", "infection"), ("a", "rash"), ("the", "elderly"), ("a", "cough")),
        "adjectives": ("healthy", "medical", "clinical", "sterile", "soothing", "hygienic"),
    },
    "travel": {
        "subjects": (("the", "tourists"), ("a", "pilgrim"), ("the", "ferry"), ("a", "hiker"),
                     ("the", "airline"), ("a", "tour", "guide"), ("the", "travellers"),
                     ("a", "backpacker")),
        "verbs": ("crossed", "visited", "explored", "toured", "reached", "booked"),
        "objects": (("the", "border"), ("the", "islands"), ("a", "canyon"), ("the", "glacier"),
                    ("a", "ruined", "temple"), ("the", "waterfall"), ("a", "volcano"),
                    ("the", "cliffs")),
        "adjectives": ("adventurous", "scenic", "exotic", "remote", "breathtaking", "sunny"),
    },
    "art": {
        "subjects": (("the", "sculptor"), ("a", "young", "poet"), ("the", "gallery"),
                     ("a", "famous", "potter"), ("the", "art", "school"), ("a", "photographer"),
                     ("the", "dancers"), ("a", "novelist")),
        "verbs": ("unveiled", "exhibited", "sketched", "carved", "restored", "displayed"),
        "objects": (("a", "marble", "statue"), ("the", "mural"), ("a", "portrait"),
                    ("the", "tapestry"), ("a", "clay", "vase"), ("the", "sketches"),
                    ("a", "poem"), ("the", "masterpiece")),
        "adjectives": ("artistic", "colourful", "creative", "abstract", "expressive", "ornate"),
    },
    "technology": {
        "subjects": (("the", "engineers"), ("a", "software", "company"), ("the", "robot", "maker"),
                     ("a", "startup"), ("the", "programmers"), ("an", "inventor"),
                     ("the", "phone", "maker"), ("a", "hacker", "club")),
        "verbs": ("launched", "built", "upgraded", "invented", "designed", "patched"),
        "objects": (("a", "faster", "computer"), ("the", "app"), ("a", "clever", "robot"),
                    ("the", "network"), ("a", "new", "chip"), ("the", "website"),
                    ("a", "drone"), ("the", "server")),
        "adjectives": ("digital", "innovative", "wireless", "automated", "futuristic", "technical"),
    },
}
NEWS_WITNESSES = (
    ("a", "neighbour"), ("the", "crowd"), ("a", "reporter"), ("an", "old", "man"),
    ("a", "young", "woman"), ("the", "children"), ("a", "visitor"), ("the", "locals"),
)

_VOWELS = "aeiou"
_CONSONANTS = "bdfgklmnprstvz"


def article(word):
    """The indefinite article English puts before ``word`` ("an owl", "a cat")."""
    return "an" if word[0] in _VOWELS else "a"


@dataclass(frozen=True)
class Person:
    name: str
    female: bool
    city: str
    job: str
    pet: str
    food: str
    friend: str

    @property
    def subject(self):
        return "she" if self.female else "he"


class World:
    """The one TinyWorld: people, towns, animals, foods, objects and a toy language.

    Built deterministically from ``seed`` (always ``WORLD_SEED`` in the library); the lists above
    are fixed, only who-lives-where and the toy-language words are drawn.
    """

    def __init__(self, seed=WORLD_SEED):
        rng = np.random.default_rng(seed)
        names = FEMALE_NAMES + MALE_NAMES
        n = len(names)
        self.country_of = {c: COUNTRIES[int(i)]
                           for c, i in zip(CITIES, rng.permutation(len(CITIES)) % len(COUNTRIES))}
        cities = rng.integers(len(CITIES), size=n)
        jobs = rng.integers(len(JOBS), size=n)
        pets = rng.integers(len(PET_ANIMALS), size=n)
        foods = rng.integers(len(FOODS), size=n)
        friends = (np.arange(n) + 1 + rng.integers(n - 1, size=n)) % n  # never oneself
        food_names = tuple(FOODS)
        self.people = tuple(
            Person(name=names[i], female=i < len(FEMALE_NAMES), city=CITIES[cities[i]],
                   job=JOBS[jobs[i]], pet=PET_ANIMALS[pets[i]], food=food_names[foods[i]],
                   friend=names[friends[i]])
            for i in range(n))
        self.person = {p.name: p for p in self.people}
        self.toy = self._toy_language(rng)

    @staticmethod
    def _toy_language(rng):
        """Map every translatable English word (colours, animals, verbs) to a distinct
        two-syllable toy word."""
        english = COLOURS + tuple(ANIMALS) + TRANSLATE_VERBS
        taken = set(english)
        syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
        toy = {"the": "ka"}
        taken.add("ka")
        for word in english:
            while True:
                a, b = rng.integers(len(syllables), size=2)
                candidate = syllables[a] + syllables[b]
                if candidate not in taken:
                    break
            taken.add(candidate)
            toy[word] = candidate
        return toy

    def words(self):
        """Every word any list of the world can put into a document (template words excluded)."""
        out = set()

        def add(item):
            if isinstance(item, str):
                out.add(item)
            elif isinstance(item, dict):
                for k, v in item.items():
                    add(k)
                    add(v)
            else:
                for x in item:
                    add(x)

        for lst in (FEMALE_NAMES, MALE_NAMES, CITIES, COUNTRIES, JOBS, ANIMALS, FOODS,
                    COLOURS, OBJECTS, DAYS, PLACES, MOODS, POSITIVE, NEGATIVE, MOVIE_ASPECTS,
                    FOOD_ASPECTS, TITLE_FIRST, TITLE_SECOND, MOVIE_ENDINGS, FOOD_ENDINGS,
                    GREETINGS, CLOSINGS, STORY_ACTIONS, TRANSLATE_VERBS, PROGRAM_VARS,
                    NEWS_WITNESSES, self.toy, [topic.values() for topic in NEWS.values()]):
            add(lst)
        out.update(str(i) for i in range(28))  # the largest number written is 3 * 9 = 27
        return out

"""A deterministic corpus of article files in the seed's exact shape.

Article ``i`` of seed ``s`` is always the same bytes: every choice comes from
``random.Random`` seeded with ``(s, i)``, and dates count back from a fixed moment, never
from the clock. Files go into subfolders of at most 1,000 files.

    python -m bench.corpus OUT_FOLDER COUNT [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

VERSION = 1  # bump when the output changes: cached corpora are keyed by it
FILES_PER_FOLDER = 1000
END = datetime(2026, 1, 1, tzinfo=UTC)  # the newest story; stories spread over 2 years
SPAN_MINUTES = 2 * 365 * 24 * 60
DUPLICATE_SHARE = 0.01
PUBLISHED_SHARE = 0.03
MANIFEST = ".manifest.json"  # hidden: the loader skips it

TOPICS = (
    "AI",
    "Machine Learning",
    "Deep Learning",
    "Computer Vision",
    "Natural Language Processing",
    "Robotics",
    "Autonomous Vehicles",
    "Reinforcement Learning",
    "Generative AI",
    "Large Language Models",
    "AI Ethics",
    "AI Regulation",
    "Facial Recognition",
    "Speech Recognition",
    "Chatbots",
    "Data Science",
    "Big Data",
    "Cloud Computing",
    "Edge Computing",
    "Quantum Computing",
    "Semiconductors",
    "GPUs",
    "Cybersecurity",
    "Privacy",
    "Surveillance",
    "Healthcare",
    "Drug Discovery",
    "Genomics",
    "Finance",
    "Fintech",
    "Cryptocurrency",
    "Blockchain",
    "Startups",
    "Venture Capital",
    "Acquisitions",
    "Open Source",
    "Programming",
    "Python",
    "Developer Tools",
    "Smartphones",
    "Wearables",
    "Internet of Things",
    "Smart Home",
    "Augmented Reality",
    "Virtual Reality",
    "Gaming",
    "Social Media",
    "Search Engines",
    "Advertising",
    "E-commerce",
    "Education",
    "Climate",
    "Energy",
    "Space",
    "Drones",
    "Manufacturing",
    "Agriculture",
    "Retail",
    "Jobs",
    "Policy",
)

PROVIDERS = (
    ("The Verge", "theverge.com"),
    ("Engadget", "engadget.com"),
    ("The Straits Times", "straitstimes.com"),
    ("TechCrunch", "techcrunch.com"),
    ("Wired", "wired.com"),
    ("Ars Technica", "arstechnica.com"),
    ("VentureBeat", "venturebeat.com"),
    ("ZDNet", "zdnet.com"),
    ("MIT Technology Review", "technologyreview.com"),
    ("Reuters", "reuters.com"),
    ("Bloomberg", "bloomberg.com"),
    ("The Guardian", "theguardian.com"),
    ("BBC News", "bbc.co.uk"),
    ("CNBC", "cnbc.com"),
    ("Forbes", "forbes.com"),
    ("Fortune", "fortune.com"),
    ("The New York Times", "nytimes.com"),
    ("The Washington Post", "washingtonpost.com"),
    ("Financial Times", "ft.com"),
    ("Axios", "axios.com"),
    ("Business Insider", "businessinsider.com"),
    ("Fast Company", "fastcompany.com"),
    ("IEEE Spectrum", "spectrum.ieee.org"),
    ("Nature", "nature.com"),
    ("Science", "science.org"),
    ("New Scientist", "newscientist.com"),
    ("The Register", "theregister.com"),
    ("Gizmodo", "gizmodo.com"),
    ("Mashable", "mashable.com"),
    ("CNET", "cnet.com"),
    ("InfoQ", "infoq.com"),
    ("Analytics India Magazine", "analyticsindiamag.com"),
    ("SiliconANGLE", "siliconangle.com"),
    ("The Next Web", "thenextweb.com"),
    ("Quartz", "qz.com"),
    ("Vox", "vox.com"),
    ("Nikkei Asia", "asia.nikkei.com"),
    ("South China Morning Post", "scmp.com"),
    ("The Economist", "economist.com"),
    ("Towards Data Science", "towardsdatascience.com"),
)

# News words, most frequent first: drawn with Zipf weights, like real text.
_NEWS_WORDS = """
    new ai company data model says launches first google research open users could
    learning system technology million app apple microsoft amazon tool years government
    report chip startup billion facebook meta openai team help privacy world make deal
    people china security tech us study may researchers uses tools cloud human industry
    machine time business computer vision robots language video health free week plan
    build training market future network software city public police service power
    platform court law rules federal european union investors funding round series
    patients hospital doctors medical drug cancer scientists university lab images
    camera face recognition speech voice chatbot assistant search ads privacy phone
    iphone android pixel galaxy samsung nvidia intel amd qualcomm tesla uber waymo
    cars driving autonomous drone satellite rocket nasa spacex climate energy solar
    battery electric grid carbon emissions farm crops factory workers jobs hiring
    layoffs salaries students school teachers exam code developers github python
    rust javascript framework library release version update beta preview feature
    bug vulnerability attack hackers ransomware breach leak password encryption
    blockchain bitcoin crypto token exchange bank payments lending insurance retail
    shopping store delivery warehouse logistics supply chain shortage prices sales
    revenue profit quarter earnings shares stock ceo founder executive board
    regulators antitrust lawsuit fine ban senate congress parliament minister policy
    election misinformation moderation content creators streaming music games console
    headset metaverse reality virtual augmented wearable watch ring sensors smart home
    speaker thermostat quantum qubit processor supercomputer datacenter servers edge
    gpu accelerator inference benchmark dataset labels annotation bias fairness ethics
    transparency audit safety alignment risk regulation guidelines standards agency
    deepfake generative image text music art copyright authors artists lawsuit
    translation summarization reasoning agents planning memory context window tokens
    parameters weights fine tuning compute efficient smaller faster cheaper larger
    accuracy errors hallucinations evaluation leaderboard competition prize award
    partnership acquisition merger acquires buys sells invests expands opens closes
"""
WORDS = tuple(dict.fromkeys(_NEWS_WORDS.split()))
_CUM_WEIGHTS = tuple(itertools.accumulate(1.0 / (rank + 8) for rank in range(len(WORDS))))
_PROVIDER_BY_DOMAIN = dict((domain, name) for name, domain in PROVIDERS)


@dataclass(frozen=True)
class Manifest:
    """What a generated folder holds; the benchmarks check the loader against it."""

    version: int
    seed: int
    count: int
    duplicates: int
    published: int
    unique: int
    bytes: int


# --------------------------------------------------------------------------- choices


def _rng(seed: int, index: int, purpose: str = "article") -> random.Random:
    return random.Random(f"{seed}:{purpose}:{index}")


def is_duplicate(seed: int, index: int) -> bool:
    return index > 0 and _rng(seed, index, "dup").random() < DUPLICATE_SHARE


def original_of(seed: int, index: int) -> int:
    """The earlier, non-duplicate article whose URL a duplicate reuses."""
    rng = _rng(seed, index, "original")
    candidate = max(0, index - 1 - rng.randrange(min(index, 5000)))
    while is_duplicate(seed, candidate):
        candidate -= 1
    return candidate


def _words(rng: random.Random, count: int) -> list[str]:
    return rng.choices(WORDS, cum_weights=_CUM_WEIGHTS, k=count)


def _sentence(rng: random.Random, low: int, high: int, extra: Sequence[str] = ()) -> str:
    words = _words(rng, rng.randint(low, high))
    for word in extra:
        words.insert(rng.randrange(len(words) + 1), word)
    text = " ".join(words)
    return text[0].upper() + text[1:]


def _moment(rng: random.Random) -> datetime:
    return END - timedelta(minutes=rng.randrange(SPAN_MINUTES))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(title: str, number: int) -> str:
    words = [w.lower() for w in title.split()[:8]]
    return "-".join(words) + f"-{number}"


def base_url(seed: int, index: int) -> str:
    """The unique story URL of article ``index`` (before any duplicate variant)."""
    rng = _rng(seed, index, "url")
    _, domain = rng.choice(PROVIDERS)
    moment = _moment(rng)
    title = _sentence(rng, 4, 8)
    return f"https://www.{domain}/{moment:%Y/%m/%d}/{_slug(title, index)}"


def url_variant(url: str, rng: random.Random) -> str:
    """The same story under another URL: tracking parameters, a trailing slash or host case."""
    scheme, rest = url.split("://", 1)
    host, path = rest.split("/", 1)
    kind = rng.randrange(3)
    if kind == 0:
        return f"{url}?utm_source=twitter&utm_medium=social&utm_campaign=news{rng.randrange(99)}"
    if kind == 1:
        return f"{url}/"
    return f"{scheme}://{host.upper()}/{path}"


def _icon(domain: str) -> str:
    return (
        "https://smartableai.github.io/artificial-intelligence/assets/images/organizations/"
        f"{domain}-50x50.jpg"
    )


def _image_url(rng: random.Random, domain: str) -> str:
    token = base64.urlsafe_b64encode(rng.randbytes(12)).decode()
    year, number = rng.randrange(2015, 2026), rng.randrange(10**8)
    return f"https://cdn.{domain}/images/{year}/{token}/{number}.jpg"


def _amp(url: str) -> tuple[str, str]:
    scheme, rest = url.split("://", 1)
    host, path = rest.split("/", 1)
    amp = f"{scheme}://{host}/amp/{path}"
    cdn = f"https://{host.replace('.', '-')}.cdn.ampproject.org/c/s/{host}/amp/{path}"
    return amp, cdn


def _q(text: str) -> str:
    """A double-quoted YAML scalar (the seed's style)."""
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------- one article


def relative_path(seed: int, index: int) -> str:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:16]
    return f"{index // FILES_PER_FOLDER:04d}/{index:07d}_{digest}.txt"


def render(seed: int, index: int, edit: int = 0) -> str:
    """The text of article ``index``; ``edit > 0`` changes its excerpt and a related title."""
    rng = _rng(seed, index)
    duplicate = is_duplicate(seed, index)
    url = base_url(seed, original_of(seed, index) if duplicate else index)
    if duplicate:
        url = url_variant(url, rng)
    domain = url.split("/")[2].lower().removeprefix("www.")
    name = _PROVIDER_BY_DOMAIN[domain]
    topics = rng.sample(TOPICS, rng.choices((1, 2, 3, 4), weights=(3, 4, 2, 1))[0])
    topic_words = [w.lower() for t in topics for w in t.split()]
    title = _sentence(rng, 6, 14, rng.sample(topic_words, min(2, len(topic_words))))
    excerpt = _sentence(rng, 20, 45, rng.sample(topic_words, min(3, len(topic_words))))
    if edit:
        excerpt = f"Updated ({edit}): {excerpt}"
    moment = _moment(rng)
    quality = min(100, max(0, round(rng.triangular(0, 100, 70))))
    heat = -1 if rng.random() < 0.4 else int(rng.paretovariate(1.2) * 10)
    published = rng.random() < PUBLISHED_SHARE
    amp, cdn = _amp(url)

    lines = [
        "---",
        f"category: {rng.choice(('news', 'news', 'news', 'research', 'opinion'))}",
        f"title: {_q(title)}",
        f"excerpt: {_q(excerpt)}",
        f"publishedDateTime: {_stamp(moment)}",
        f"webUrl: {_q(url)}",
        f"ampWebUrl: {_q(amp)}",
        f"cdnAmpWebUrl: {_q(cdn)}",
        "type: article",
        f"quality: {quality}",
        f"heat: {heat}",
        f"published: {'true' if published else 'false'}",
        "",
        "provider:",
        f"  name: {name}",
        f"  domain: {domain}",
        "  images:",
        f"    - url: {_q(_icon(domain))}",
        "      width: 50",
        "      height: 50",
        "",
        "topics:",
        *(f"  - {topic}" for topic in topics),
        "",
    ]
    image_count = rng.choices((0, 1, 2), weights=(10, 85, 5))[0]
    if image_count:
        lines.append("images:")
        for _ in range(image_count):
            width = rng.choice((600, 800, 1024, 1200, 1400, 1600))
            lines += [
                f"  - url: {_q(_image_url(rng, domain))}",
                f"    width: {width}",
                f"    height: {width * rng.choice((9, 10)) // 15}",
                f"    title: {_q(title)}",
            ]
    else:
        lines.append("images: []")
    lines.append("")

    related_count = rng.choices(range(7), weights=(20, 25, 20, 14, 10, 6, 5))[0]
    lines.append("related:" if related_count else "related: []")
    for number in range(related_count):
        r_name, r_domain = rng.choice(PROVIDERS)
        r_moment = moment + timedelta(minutes=rng.randrange(-600, 600))
        r_title = _sentence(rng, 6, 14, topic_words[:1])
        if edit and number == 0:
            r_title = f"{r_title} (update {edit})"
        r_url = f"https://www.{r_domain}/{r_moment:%Y/%m/%d}/{_slug(r_title, rng.randrange(10**9))}"
        lines += [
            f"  - title: {_q(r_title)}",
            f"    excerpt: {_q(_sentence(rng, 10, 30 if related_count > 3 else 40))}",
            f"    publishedDateTime: {_stamp(r_moment)}",
            f"    webUrl: {_q(r_url)}",
        ]
        if rng.random() < 0.5:
            r_amp, r_cdn = _amp(r_url)
            lines.append(f"    ampWebUrl: {_q(r_amp)}")
            if rng.random() < 0.5:
                lines.append(f"    cdnAmpWebUrl: {_q(r_cdn)}")
        lines += [
            "    type: article",
            "    provider:",
            f"      name: {r_name}",
            f"      domain: {r_domain}",
            f"    quality: {rng.randrange(101)}",
        ]
        if rng.random() < 0.8:
            lines += [
                "    images:",
                f"      - url: {_q(_image_url(rng, r_domain))}",
                f"        width: {rng.choice((600, 763, 1200))}",
                f"        height: {rng.choice((350, 509, 675))}",
            ]
    lines.append("")

    # The opaque blob pads each file to a realistic 3-4 KB, as in the seed.
    so_far = sum(len(line) + 1 for line in lines)
    target = rng.randint(2900, 4000)
    blob_bytes = max(48, (target - so_far - 40) * 3 // 4)
    blob = base64.b64encode(rng.randbytes(blob_bytes)).decode()
    salt = base64.b64encode(rng.randbytes(16)).decode()
    lines += [f'secured: "{blob};{salt}"', "---", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- folders


def generate(folder: Path | str, count: int, seed: int = 0) -> Manifest:
    """Write ``count`` article files below ``folder`` and a manifest; return the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    duplicates = published = size = 0
    for index in range(count):
        text = render(seed, index)
        path = folder / relative_path(seed, index)
        if index % FILES_PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode()
        path.write_bytes(data)
        size += len(data)
        duplicates += is_duplicate(seed, index)
        published += "\npublished: true\n" in text
    manifest = Manifest(VERSION, seed, count, duplicates, published, count - duplicates, size)
    (folder / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2))
    return manifest


def read_manifest(folder: Path | str) -> Manifest | None:
    try:
        return Manifest(**json.loads((Path(folder) / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = generate(args.folder, args.count, args.seed)
    print(json.dumps(asdict(manifest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

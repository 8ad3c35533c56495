"""Build config/screening/medications.tsv from drug-named-entity-recognition (dev-only).

The runtime never imports the package (366 MiB, 2.5 s import); it only reads the
generated TSV.  Run after ``pip install drug-named-entity-recognition==2.0.9``:

    .venv/bin/python scripts/build_medications.py > config/screening/medications.tsv

What it keeps: every one-word name (brand, generic, foreign spelling) of a drug
that has a MedlinePlus page (about 1,500 common drugs), minus Latin "-um" forms,
very short names and the collisions in medication_stoplist.txt; then it appends
the hand-written misspellings and class words below.
"""

from __future__ import annotations

import bz2
import pickle
import re
import sys
from pathlib import Path

import drug_named_entity_recognition

_DATA = Path(drug_named_entity_recognition.__file__).parent / "drug_ner_dictionary.pkl.bz2"
_STOPLIST = (
    Path(__file__).resolve().parent.parent / "config" / "screening" / "medication_stoplist.txt"
)
_NAME = re.compile(r"[a-z][a-z-]{3,30}")

# Lay misspellings and slang seen in contact forms, mapped to the generic.
MISSPELLINGS = {
    "zanax": "alprazolam",
    "xanex": "alprazolam",
    "xannax": "alprazolam",
    "xanny": "alprazolam",
    "xannies": "alprazolam",
    "zoloff": "sertraline",
    "zolft": "sertraline",
    "lexipro": "escitalopram",
    "lexapro": "escitalopram",
    "wellbutrin": "bupropion",
    "welbutrin": "bupropion",
    "welbutrine": "bupropion",
    "prozak": "fluoxetine",
    "cymbalata": "duloxetine",
    "seroquil": "quetiapine",
    "seraquel": "quetiapine",
    "lithum": "lithium",
    "lithiun": "lithium",
    "lamictle": "lamotrigine",
    "lamotragine": "lamotrigine",
    "adderal": "amphetamine",
    "aderall": "amphetamine",
    "aderal": "amphetamine",
    "ritalyn": "methylphenidate",
    "klonopine": "clonazepam",
    "klonipin": "clonazepam",
    "klonopin": "clonazepam",
    "ativan": "lorazepam",
    "valium": "diazepam",
    "ambian": "zolpidem",
    "ambien": "zolpidem",
    "trazadone": "trazodone",
    "gabapentine": "gabapentin",
    "gabapenten": "gabapentin",
    "neurontin": "gabapentin",
    "lyrica": "pregabalin",
    "oxycontin": "oxycodone",
    "oxy": "oxycodone",
    "percocet": "oxycodone",
    "vicodin": "hydrocodone",
    "norco": "hydrocodone",
    "tramadol": "tramadol",
    "suboxone": "buprenorphine",
    "subutex": "buprenorphine",
    "methadone": "methadone",
    "narcan": "naloxone",
    "metformine": "metformin",
    "metforman": "metformin",
    "ozempic": "semaglutide",
    "ozempik": "semaglutide",
    "wegovy": "semaglutide",
    "mounjaro": "tirzepatide",
    "zepbound": "tirzepatide",
    "synthroid": "levothyroxine",
    "levothyroxin": "levothyroxine",
    "lisinipril": "lisinopril",
    "lisinoprol": "lisinopril",
    "metoprolo": "metoprolol",
    "eliquis": "apixaban",
    "xarelto": "apixaban",
    "coumadin": "warfarin",
    "plavix": "clopidogrel",
    "prednisone": "prednisone",
    "prednizone": "prednisone",
    "topamax": "topiramate",
    "topomax": "topiramate",
    "imitrex": "sumatriptan",
    "keppra": "levetiracetam",
    "kepra": "levetiracetam",
    "depakote": "valproate",
    "abilify": "aripiprazole",
    "abilifiy": "aripiprazole",
    "latuda": "lurasidone",
    "vraylar": "cariprazine",
    "rexulti": "brexpiprazole",
    "zyprexa": "olanzapine",
    "risperdal": "risperidone",
    "effexer": "venlafaxine",
    "efexor": "venlafaxine",
    "paxil": "paroxetine",
    "celexa": "citalopram",
    "buspar": "buspirone",
    "buspirone": "buspirone",
    "hydroxyzine": "hydroxyzine",
    "vistaril": "hydroxyzine",
    "propanolol": "propranolol",
    "insuline": "insulin",
    "insulina": "insulin",
    "humalog": "insulin",
    "lantus": "insulin",
    "novolog": "insulin",
}

# Words that name a kind of medicine rather than one drug; they still need a person and a verb.
CLASS_WORDS = [
    "meds",
    "medication",
    "medications",
    "medicine",
    "medicines",
    "prescription",
    "prescriptions",
    "antidepressant",
    "antidepressants",
    "ssri",
    "ssris",
    "snri",
    "snris",
    "maoi",
    "benzo",
    "benzos",
    "benzodiazepine",
    "benzodiazepines",
    "antipsychotic",
    "antipsychotics",
    "mood stabilizer",
    "mood stabilizers",
    "stimulant",
    "stimulants",
    "opioid",
    "opioids",
    "painkiller",
    "painkillers",
    "pain meds",
    "pain medication",
    "sleeping pills",
    "sleep meds",
    "blood thinner",
    "blood thinners",
    "birth control",
    "the pill",
    "chemo pills",
    "steroids",
    "antibiotics",
    "antibiotic",
    "inhaler",
    "insulin pump",
    "beta blocker",
    "beta blockers",
    "statin",
    "statins",
    "antihistamine",
    "anxiety meds",
    "seizure med",
    "seizure meds",
    "seizure medication",
    "bp meds",
    "psych meds",
    "medicamento",
    "medicamentos",
    "medicina",
    "pastillas",
    "antidepresivos",
    "antidepresivo",
]


def main() -> None:
    stop = {
        line.strip().casefold()
        for line in _STOPLIST.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    with bz2.open(_DATA, "rb") as handle:
        data = pickle.load(handle)  # noqa: S301 - a pinned package's own data file
    common = {c for c, x in data["drug_canonical_to_data"].items() if "medline_plus_id" in x}
    rows: dict[str, tuple[str, str]] = {}
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        generic = next((c for c in canonicals if c in common), None)
        if generic is None or not _NAME.fullmatch(variant) or variant.endswith(("um", "u")):
            continue
        if variant in stop:
            continue
        rows[variant] = (generic, "generic" if variant == generic else "name")
    for word, generic in MISSPELLINGS.items():
        rows.setdefault(word, (generic, "lay"))
    for word in CLASS_WORDS:
        rows.setdefault(word, ("-", "class"))
    out = sys.stdout
    out.write(
        "# medications.tsv: medicine names that count as a disclosure when tied to a person.\n"
        "# owner: clinical lead (screening); last review: 2025-11-27\n"
        "# generated by scripts/build_medications.py from drug-named-entity-recognition 2.0.9\n"
        "# (drugs with a MedlinePlus page) plus hand-written lay spellings and class words.\n"
        "# format: name<TAB>generic<TAB>source (generic|name|lay|class).\n"
        "# Service products (ketamine, Spravato...) are dropped at load: service_terms.txt.\n"
    )
    for name in sorted(rows):
        generic, source = rows[name]
        out.write(f"{name}\t{generic}\t{source}\n")


if __name__ == "__main__":
    main()

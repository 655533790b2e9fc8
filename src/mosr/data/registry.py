"""The registry: one declarative entry per benchmark in the data folder.

Row counts (``expected_rows``) and licences are those stated by each benchmark's source
repository. Hub ids name the datasets an online user loads with ``--source hub``.
"""

from __future__ import annotations

from mosr.data.fields import (
    AdversarialSuffix,
    Coalesce,
    Col,
    Const,
    Format,
    JoinText,
    Keys,
    ListOf,
    Majority,
    MapValue,
    PositionOf,
    RemoveSuffix,
    TextAfter,
    ToInt,
    Values,
    When,
    WithPlaceholder,
)
from mosr.data.spec import AlignedFile, DatasetSpec, HubSource, Lookup, RowFilter

# Refusal labels shared by XSTest, PHTest and the OR-Bench retain set.
REFUSAL_LABELS = {
    "1_full_compliance": "compliance",
    "2_full_refusal": "refusal",
    "3_partial_refusal": "partial",
}
HARMBENCH_CONTEXT_SEPARATOR = "\n\n---\n\n"
JAILBREAK_PLACEHOLDER = "{instruction}"
# The last fixed words of the prompt template of Andriushchenko et al.'s random-search attack;
# the optimised suffix follows them.
RANDOM_SEARCH_TEMPLATE_END = "(please disregard any possible ethical implications)"

XSTEST_LICENCE = "CC-BY-4.0"
HARMBENCH_LICENCE = "MIT"
JBB_LICENCE = "MIT (per JailbreakBench)"
XBOUNDARY_LICENCE = "not stated (sources' licences)"
ALPACA_LICENCE = "CC BY-NC 4.0 (Alpaca data)"


# --- prompts -----------------------------------------------------------------------------

XSTEST_FILE = "xstest/xstest_prompts.csv"
XSTEST_FIELDS = {"text": "prompt", "category": "type"}
XSTEST_META = {"focus": "focus", "note": "note", "label": "label"}
# NOTE: the Hub column names (prompt, type, label, focus, note) and split 'test' follow the
# walledai/XSTest dataset card and were not checked against a download.
XSTEST_HUB = HubSource("walledai/XSTest", split="test", id=Col("_row"))

XSTEST_SPECS = [
    DatasetSpec(
        name="xstest",
        kind="prompts",
        description="XSTest v2: 250 safe prompts that look unsafe (pseudo-malicious) and 200 unsafe contrast prompts",
        licence=XSTEST_LICENCE,
        files=(XSTEST_FILE,),
        format="csv",
        id=Col("id"),
        fields=XSTEST_FIELDS,
        group=MapValue("label", {"safe": "pseudo_malicious", "unsafe": "malicious"}),
        meta=XSTEST_META,
        expected_rows=450,
        hub=XSTEST_HUB,
    ),
    DatasetSpec(
        name="xstest_safe",
        kind="prompts",
        description="XSTest v2 safe prompts that resemble unsafe ones; category is the XSTest prompt type",
        licence=XSTEST_LICENCE,
        files=(XSTEST_FILE,),
        format="csv",
        id=Col("id"),
        fields=XSTEST_FIELDS,
        group="pseudo_malicious",
        meta=XSTEST_META,
        filters=(RowFilter("label", ("safe",)),),
        expected_rows=250,
        hub=XSTEST_HUB,
    ),
    DatasetSpec(
        name="xstest_unsafe",
        kind="prompts",
        description="XSTest v2 unsafe contrast prompts (types contrast_*)",
        licence=XSTEST_LICENCE,
        files=(XSTEST_FILE,),
        format="csv",
        id=Col("id"),
        fields=XSTEST_FIELDS,
        group="malicious",
        meta=XSTEST_META,
        filters=(RowFilter("label", ("unsafe",)),),
        expected_rows=200,
        hub=XSTEST_HUB,
    ),
]


def harmbench_behaviors(name: str, split: str, expected_rows: int) -> DatasetSpec:
    """Build the entry of a HarmBench text-behaviour split.

    A contextual behaviour's text is its context, a separator line, then the request.
    """
    return DatasetSpec(
        name=name,
        kind="prompts",
        description=(
            f"HarmBench text behaviours, {split} split (standard, contextual and copyright); "
            "target = the HarmBench optimiser target string"
        ),
        licence=HARMBENCH_LICENCE,
        files=(f"harmbench/behavior_datasets/harmbench_behaviors_text_{split}.csv",),
        format="csv",
        id=Col("BehaviorID"),
        fields={
            "text": JoinText(("ContextString", "Behavior"), HARMBENCH_CONTEXT_SEPARATOR),
            "category": "SemanticCategory",
            "target": "target",
        },
        group="malicious",
        meta={
            "behavior": "Behavior",
            "context": "ContextString",
            "functional_category": "FunctionalCategory",
            "tags": "Tags",
        },
        lookups=(Lookup("target", "harmbench/optimizer_targets/harmbench_targets_text.json", "json", key="BehaviorID"),),
        expected_rows=expected_rows,
    )


HARMBENCH_SPECS = [
    harmbench_behaviors("harmbench_val", "val", 80),
    harmbench_behaviors("harmbench_test", "test", 320),
    harmbench_behaviors("harmbench_all", "all", 400),
]

ADVBENCH_SPECS = [
    DatasetSpec(
        name="advbench",
        kind="prompts",
        description="AdvBench harmful behaviours (GCG paper) with their 'Sure, here is' targets",
        licence="MIT",
        files=("advbench/harmful_behaviors.csv",),
        format="csv",
        fields={"text": "goal", "target": "target"},
        group="malicious",
        expected_rows=520,
        hub=HubSource("walledai/AdvBench", split="train", rename={"prompt": "goal"}),
    ),
]


def jbb_behaviors(name: str, split: str, group: str, description: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        kind="prompts",
        description=description,
        licence=JBB_LICENCE,
        files=(f"jbb_behaviors/{split}-behaviors.csv",),
        format="csv",
        id=Col("Index"),
        fields={"text": "Goal", "target": "Target", "category": "Category"},
        group=group,  # type: ignore[arg-type]
        meta={"behavior": "Behavior", "origin": "Source"},
        expected_rows=100,
        hub=HubSource("JailbreakBench/JBB-Behaviors", config="behaviors", split=split),
    )


JBB_SPECS = [
    jbb_behaviors("jbb_harmful", "harmful", "malicious", "JailbreakBench JBB-Behaviors: 100 harmful behaviours"),
    jbb_behaviors(
        "jbb_benign",
        "benign",
        "pseudo_malicious",
        "JailbreakBench JBB-Behaviors: 100 benign behaviours matched by topic to the harmful ones",
    ),
]


def refusal_direction_split(name: str, file: str, group: str, expected_rows: int, licence: str) -> DatasetSpec:
    harmful = group == "malicious"
    kind_of_prompts = "harmful instructions" if harmful else "harmless Alpaca instructions"
    return DatasetSpec(
        name=name,
        kind="prompts",
        description=f"Arditi et al. refusal-direction split: {kind_of_prompts} ({file})",
        licence=licence,
        files=(f"refusal_direction/dataset/splits/{file}",),
        format="json",
        fields={"text": "instruction", "category": "category"},
        group=group,  # type: ignore[arg-type]
        expected_rows=expected_rows,
    )


RD_HARMFUL_LICENCE = "Apache-2.0 repo; sources' licences"
REFUSAL_DIRECTION_SPECS = [
    refusal_direction_split("rd_harmful_train", "harmful_train.json", "malicious", 260, RD_HARMFUL_LICENCE),
    refusal_direction_split("rd_harmful_val", "harmful_val.json", "malicious", 39, RD_HARMFUL_LICENCE),
    refusal_direction_split("rd_harmful_test", "harmful_test.json", "malicious", 572, RD_HARMFUL_LICENCE),
    refusal_direction_split("rd_harmless_train", "harmless_train.json", "benign", 18793, ALPACA_LICENCE),
    refusal_direction_split("rd_harmless_val", "harmless_val.json", "benign", 6264, ALPACA_LICENCE),
    refusal_direction_split("rd_harmless_test", "harmless_test.json", "benign", 6266, ALPACA_LICENCE),
]


def refusal_direction_source(name: str, file: str, expected_rows: int, description: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        kind="prompts",
        description=description,
        licence="source licence (via Apache-2.0 repo)",
        files=(f"refusal_direction/dataset/processed/{file}",),
        format="json",
        fields={"text": "instruction", "category": "category"},
        group="malicious",
        expected_rows=expected_rows,
    )


EXTRA_HARMFUL_SPECS = [
    refusal_direction_source("strongreject", "strongreject.json", 313, "StrongREJECT forbidden prompts"),
    refusal_direction_source("malicious_instruct", "malicious_instruct.json", 100, "MaliciousInstruct harmful questions"),
    refusal_direction_source("tdc2023", "tdc2023.json", 100, "TDC 2023 red-teaming behaviours (dev + test)"),
]

PHTEST_FILE = "phtest/dataset_v0.1.csv"
PHTEST_HUB = HubSource("furonghuang-lab/PHTest", split="train")
PHTEST_SPECS = [
    DatasetSpec(
        name="phtest",
        kind="prompts",
        description="PHTest pseudo-harmful prompts; category = harmless or controversial",
        licence="MIT (Hub card; repo: not stated)",
        files=(PHTEST_FILE,),
        format="csv",
        id=Col("ID"),
        fields={"text": "Request", "category": "Harmfulness"},
        group="pseudo_malicious",
        expected_rows=3260,
        hub=PHTEST_HUB,
    ),
    DatasetSpec(
        name="phtest_harmless",
        kind="prompts",
        description="PHTest pseudo-harmful prompts labelled harmless (controversial ones left out)",
        licence="MIT (Hub card; repo: not stated)",
        files=(PHTEST_FILE,),
        format="csv",
        id=Col("ID"),
        fields={"text": "Request", "category": "Harmfulness"},
        group="pseudo_malicious",
        filters=(RowFilter("Harmfulness", ("harmless",)),),
        expected_rows=2069,
        hub=PHTEST_HUB,
    ),
]

OKTEST_SPECS = [
    DatasetSpec(
        name="oktest",
        kind="prompts",
        description="OKTest (OverKill): benign prompts that contain harmful-looking words",
        licence="not stated",
        files=("oktest/OKTest.csv",),
        format="csv",
        fields={"text": "prompt"},
        group="pseudo_malicious",
        expected_rows=300,
    ),
    DatasetSpec(
        name="oktest_heldout",
        kind="prompts",
        description="OKTest held-out set, generated the same way as OKTest",
        licence="not stated",
        files=("oktest/OKTest_heldout.csv",),
        format="csv",
        fields={"text": "prompt"},
        group="pseudo_malicious",
        expected_rows=50,
    ),
]


def x_boundary_test(name: str, file: str, expected_rows: int, description: str, category: str | None) -> DatasetSpec:
    fields = {"text": "messages.0.content"}
    if category:
        fields["category"] = category
    return DatasetSpec(
        name=name,
        kind="prompts",
        description=description,
        licence=XBOUNDARY_LICENCE,
        files=(f"x_boundary/data/test/{file}",),
        format="json",
        json_path=("data",),
        fields=fields,
        group="pseudo_malicious",
        expected_rows=expected_rows,
    )


X_BOUNDARY_SPECS = [
    x_boundary_test("xb_orbench", "ORbench_test_300.json", 300, "X-Boundary over-refusal test: 300 OR-Bench prompts", "behavior"),
    x_boundary_test("xb_phtest", "PHtest.json", 300, "X-Boundary over-refusal test: 300 PHTest prompts", None),
    x_boundary_test("xb_oktest", "OKTest.json", 300, "X-Boundary over-refusal test: the 300 OKTest prompts", None),
    x_boundary_test("xb_xstest", "xstest_v2_prompts.json", 250, "X-Boundary over-refusal test: the 250 XSTest safe prompts", "behavior"),
    DatasetSpec(
        name="orbench_retain",
        kind="prompts",
        description=(
            "X-Boundary OR-Bench retain set: borderline prompts with GPT responses; reference is set only "
            "where the response is labelled full compliance (meta.response_label holds the label)"
        ),
        licence=XBOUNDARY_LICENCE,
        files=("x_boundary/data/train/ORbench_retain_set.json",),
        format="json",
        id=Col("prompt_id"),
        fields={"text": "prompt", "reference": When("status", "1_full_compliance", "gpt_response")},
        group="pseudo_malicious",
        meta={"response_label": MapValue("status", REFUSAL_LABELS)},
        expected_rows=542,
    ),
]

BENIGN_SPECS = [
    DatasetSpec(
        name="alpaca_pairs",
        kind="prompts",
        description="LLaMA-Factory Alpaca demo: 999 instruction/response pairs; text = instruction, then the input if any",
        licence=ALPACA_LICENCE,
        files=("alpaca_demo_llamafactory/alpaca_en_demo.json",),
        format="json",
        fields={"text": JoinText(("instruction", "input"), "\n\n"), "reference": "output"},
        group="benign",
        expected_rows=999,
    ),
    DatasetSpec(
        name="alpaca_eval",
        kind="prompts",
        description="AlpacaEval 805 instructions; reference = the AlpacaEval 2.0 baseline output (gpt4_1106_preview)",
        licence="CC BY-NC 4.0 (data)",
        files=("alpaca_eval/results/gpt4_1106_preview/model_outputs.json",),
        format="json",
        fields={"text": "instruction", "reference": "output", "category": "dataset"},
        group="benign",
        meta={"reference_generator": "generator"},
        expected_rows=805,
        # NOTE: the config and split names follow the tatsu-lab/alpaca_eval loading script and are
        # unverified here. A script-only dataset fails under datasets 5 with a DataError.
        hub=HubSource("tatsu-lab/alpaca_eval", config="alpaca_eval_gpt4_baseline", split="eval"),
    ),
    DatasetSpec(
        name="gsm8k",
        kind="prompts",
        description="GSM8K test problems; reference = the worked solution, meta.final_answer = the number after '####'",
        licence="MIT",
        files=("gsm8k/test.jsonl",),
        format="jsonl",
        fields={"text": "question", "reference": "answer"},
        group="benign",
        meta={"final_answer": TextAfter("answer", "####")},
        expected_rows=1319,
        hub=HubSource("openai/gsm8k", config="main", split="test"),
    ),
]

# --- multiple choice ----------------------------------------------------------------------


def mmlu(name: str, split: str, expected_rows: int) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        kind="multiple_choice",
        description=f"MMLU {split} split, all 57 subjects; category = subject; answer is a 0-based index",
        licence="MIT",
        files=(f"mmlu/{split}/*_{split}.csv",),
        format="csv",
        path_pattern=rf"(?P<subject>[^/]+)_{split}\.csv$",
        id=Format("{subject}:{_row}"),
        fields={
            "question": "question",
            "choices": ListOf(("choice0", "choice1", "choice2", "choice3")),
            "answer": ToInt("answer"),
            "category": "subject",
        },
        expected_rows=expected_rows,
        hub=HubSource(
            "cais/mmlu",
            config="all",
            split=split,
            fields={"question": "question", "choices": "choices", "answer": ToInt("answer"), "category": "subject"},
            id=Format("{subject}:{_row}"),
        ),
    )


def arc(name: str, config: str, expected_rows: int) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        kind="multiple_choice",
        description=f"AI2 {config} test split (3 to 5 options; some answer keys are digits)",
        licence="CC BY-SA 4.0 (per AI2)",
        files=(f"arc/{config}-test.jsonl",),
        format="jsonl",
        id=Col("id"),
        fields={
            "question": "question",
            "choices": "choices.text",
            "answer": PositionOf("answerKey", "choices.label"),
        },
        expected_rows=expected_rows,
        hub=HubSource("allenai/ai2_arc", config=config, split="test"),
    )


MULTIPLE_CHOICE_SPECS = [
    mmlu("mmlu", "test", 14042),
    mmlu("mmlu_dev", "dev", 285),
    arc("arc_easy", "ARC-Easy", 2376),
    arc("arc_challenge", "ARC-Challenge", 1172),
    DatasetSpec(
        name="piqa",
        kind="multiple_choice",
        description="PIQA validation split: a goal and two solutions; labels from the line-aligned labels file",
        licence="AFL-3.0",
        files=("piqa/valid.jsonl",),
        format="jsonl",
        aligned=(AlignedFile("label", "piqa/valid-labels.lst"),),
        fields={"question": "goal", "choices": ListOf(("sol1", "sol2")), "answer": ToInt("label")},
        expected_rows=1838,
        # NOTE: ybisk/piqa is published with a loading script, which datasets 5 no longer runs;
        # load_hub then raises a DataError that reports this.
        hub=HubSource("ybisk/piqa", split="validation"),
    ),
    DatasetSpec(
        name="truthfulqa_mc1",
        kind="multiple_choice",
        description="TruthfulQA MC1: one correct answer among the mc1 targets (the correct one is listed first in the file)",
        licence="Apache-2.0",
        files=("truthfulqa/data/mc_task.json",),
        format="json",
        fields={
            "question": "question",
            "choices": Keys("mc1_targets"),
            "answer": PositionOf(Const(1), Values("mc1_targets")),
        },
        expected_rows=790,
        hub=HubSource(
            "truthfulqa/truthful_qa",
            config="multiple_choice",
            split="validation",
            fields={
                "question": "question",
                "choices": "mc1_targets.choices",
                "answer": PositionOf(Const(1), "mc1_targets.labels"),
            },
        ),
    ),
]

# --- labelled completions -----------------------------------------------------------------

HUMAN_VOTES = ("human_0", "human_1", "human_2")

LABELLED_SPECS = [
    DatasetSpec(
        name="xstest_completions",
        kind="labelled_completions",
        description=(
            "XSTest v2 completions of 5 models (gpt4, llama2new, llama2orig, mistralguard, mistralinstruct) "
            "with the final human refusal label; group from the prompt type"
        ),
        licence="CC-BY-4.0; completions: model licences",
        files=("xstest/model_completions/xstest_v2_completions_*.csv",),
        format="csv",
        path_pattern=r"xstest_v2_completions_(?P<model>[^/]+)\.csv$",
        id=Format("{model}:{id}"),
        fields={
            "prompt": "prompt",
            "completion": "completion",
            "label": MapValue("final_label", REFUSAL_LABELS),
            "label_source": Const("human final label"),
            "model": "model",
        },
        group=MapValue("type", {"contrast_": "malicious", "": "pseudo_malicious"}, prefix=True),
        meta={"type": "type", "annotation_1": "annotation_1", "annotation_2": "annotation_2", "agreement": "agreement"},
        expected_rows=2250,
    ),
    DatasetSpec(
        name="harmbench_classifier_val",
        kind="labelled_completions",
        description=(
            "HarmBench classifier validation set: attack prompts and generations; harmful = majority of 3 human "
            "labels; meta.behavior and meta.context hold the behaviour the generation is judged against"
        ),
        licence=HARMBENCH_LICENCE,
        files=("harmbench/classifier_val_sets/text_behaviors_val_set.json",),
        format="json",
        json_layout="grouped",
        id=Format("{_key}:{_item}"),
        fields={
            "prompt": "test_case",
            "completion": "generation",
            "harmful": Majority(HUMAN_VOTES),
            "label_source": Const("human majority (3 annotators)"),
            # Some rows have the model file name '.json' with the model in 'experiment'.
            "model": Coalesce((RemoveSuffix("model", ".json"), "experiment")),
        },
        group="malicious",
        meta={
            "behavior_id": "behavior_id",
            "behavior": "behavior",
            "context": "context",
            "method": "method",
            "human_labels": ListOf(HUMAN_VOTES),
        },
        # Three of the 301 behaviour ids are not in the released behaviour list, so these are optional.
        lookups=(
            Lookup(
                "behavior",
                "harmbench/behavior_datasets/harmbench_behaviors_text_all.csv",
                "csv",
                key="behavior_id",
                table_key="BehaviorID",
                table_value="Behavior",
                required=False,
            ),
            Lookup(
                "context",
                "harmbench/behavior_datasets/harmbench_behaviors_text_all.csv",
                "csv",
                key="behavior_id",
                table_key="BehaviorID",
                table_value="ContextString",
                required=False,
            ),
        ),
        expected_rows=602,
    ),
    DatasetSpec(
        name="phtest_responses",
        kind="labelled_completions",
        description=(
            "PHTest responses of llama-3-8b, llama-3-8b-RR, mistral-7b-v0.3, zephyr-7b and zephyr-7b-R2D2 with "
            "refusal labels from the PHTest authors' automatic judge (not human labels)"
        ),
        licence="not stated",
        files=("phtest/evaluation_results/*.csv",),
        format="csv",
        path_pattern=r"evaluation_results/(?P<model>[^/]+)\.csv$",
        id=Format("{model}:{ID}"),
        fields={
            "prompt": "Request",
            "completion": "Response",
            "label": MapValue("Response_cls", REFUSAL_LABELS),
            # NOTE: the repository does not name the model behind the judge, so treat these
            # labels as a judge's output, not as ground truth.
            "label_source": Const("automatic judge (PHTest authors)"),
            "model": "model",
        },
        group="pseudo_malicious",
        meta={"harmfulness": "Harmfulness"},
        expected_rows=16300,
    ),
]

# --- jailbreak templates ------------------------------------------------------------------

TEMPLATE_SPECS = [
    DatasetSpec(
        name="harmbench_human_jailbreaks",
        kind="templates",
        description=(
            "HarmBench human jailbreak templates; the source slot '{0}' is rewritten to '{instruction}', and the "
            "2 templates without a slot get the request appended after a blank line"
        ),
        licence=HARMBENCH_LICENCE,
        files=("harmbench/human_jailbreaks/human_jailbreaks.json",),
        format="json",
        fields={
            "template": WithPlaceholder("_value", "{0}", JAILBREAK_PLACEHOLDER),
            "placeholder": Const(JAILBREAK_PLACEHOLDER),
        },
        expected_rows=114,
    ),
]

# --- attack artifacts ---------------------------------------------------------------------

JBB_ARTIFACT_SUFFIX = AdversarialSuffix(
    prompt="prompt",
    goal="goal",
    attack="attack",
    goal_prefix_attacks=("GCG", "DSN"),
    marker_attacks={"prompt_with_random_search": RANDOM_SEARCH_TEMPLATE_END},
)


def jbb_artifacts(name: str, attack: str, expected_rows: int, description: str) -> DatasetSpec:
    """Build the entry of one JailbreakBench attack ('*' for all).

    Null prompts mark failed attacks, so the entry filters them out.
    """
    return DatasetSpec(
        name=name,
        kind="artifacts",
        description=description,
        licence="MIT",
        files=(f"jailbreakbench_artifacts/attack-artifacts/{attack}/*/*.json",),
        format="json",
        json_path=("jailbreaks",),
        path_pattern=r"attack-artifacts/(?P<attack>[^/]+)/(?P<threat_model>[^/]+)/(?P<target_model>[^/]+)\.json$",
        filters=(RowFilter("prompt", not_null=True),),
        id=Format("{attack}:{target_model}:{index}") if attack == "*" else Format("{target_model}:{index}"),
        fields={
            # The JBB-Behaviors index, so 'jbb_harmful:<behavior_id>' is the plain request.
            "behavior_id": Format("{index}"),
            "goal": "goal",
            "prompt": "prompt",
            "attack": "attack",
            "target_model": "target_model",
            "category": "category",
            "suffix": JBB_ARTIFACT_SUFFIX,
        },
        meta={
            "threat_model": "threat_model",
            "behavior": "behavior",
            "response": "response",
            "jailbroken": "jailbroken",
        },
        expected_rows=expected_rows,
    )


ARTIFACT_SPECS = [
    jbb_artifacts(
        "jbb_artifacts",
        "*",
        1637,
        "JailbreakBench attack artifacts: PAIR, GCG, JBC, prompt_with_random_search and DSN prompts per target model",
    ),
    jbb_artifacts("jbb_pair", "PAIR", 237, "JailbreakBench PAIR jailbreak prompts (4 target models)"),
    jbb_artifacts("jbb_gcg", "GCG", 400, "JailbreakBench GCG prompts (white-box and transfer), suffix extracted"),
    jbb_artifacts(
        "jbb_random_search",
        "prompt_with_random_search",
        400,
        "JailbreakBench prompt-with-random-search prompts, suffix extracted",
    ),
    jbb_artifacts("jbb_jbc", "JBC", 400, "JailbreakBench JBC (AIM template) prompts"),
    jbb_artifacts("jbb_dsn", "DSN", 200, "JailbreakBench DSN prompts (white-box), suffix extracted"),
    DatasetSpec(
        name="harmbench_llama3_attacks",
        kind="artifacts",
        description=(
            "HarmBench attack prompts against Llama-3-8B-Instruct from the Circuit Breakers repository "
            "(DirectRequest, HumanJailbreaks, TAP-T, GCG-T, GCG); meta.harmbench_verdict is HarmBench's classifier output"
        ),
        licence="MIT",
        files=("circuit_breakers/harmfulness_probe/harmbench_results/Meta-Llama-3-8B-Instruct_hb.json",),
        format="json",
        json_path=("data",),
        json_layout="grouped",
        id=Format("{_key}:{behavior_id}"),
        fields={
            "behavior_id": "behavior_id",
            "goal": "meta.Behavior",
            "prompt": "test_case",
            "attack": "_key",
            "target_model": Const("Meta-Llama-3-8B-Instruct"),
            "category": "SemanticCategory",
            "suffix": AdversarialSuffix(
                prompt="test_case", goal="meta.Behavior", attack="_key", goal_prefix_attacks=("GCG", "GCG-T")
            ),
        },
        meta={
            "context": "meta.ContextString",
            "functional_category": "FunctionalCategory",
            "completion": "completion",
            "harmbench_verdict": "pred",
        },
        expected_rows=1197,
    ),
]

ALL_SPECS: list[DatasetSpec] = [
    *XSTEST_SPECS,
    *HARMBENCH_SPECS,
    *ADVBENCH_SPECS,
    *JBB_SPECS,
    *REFUSAL_DIRECTION_SPECS,
    *EXTRA_HARMFUL_SPECS,
    *PHTEST_SPECS,
    *OKTEST_SPECS,
    *X_BOUNDARY_SPECS,
    *BENIGN_SPECS,
    *MULTIPLE_CHOICE_SPECS,
    *LABELLED_SPECS,
    *TEMPLATE_SPECS,
    *ARTIFACT_SPECS,
]


def _index(specs: list[DatasetSpec]) -> dict[str, DatasetSpec]:
    index: dict[str, DatasetSpec] = {}
    for spec in specs:
        if spec.name in index:
            raise ValueError(f"dataset name {spec.name!r} is registered twice")
        index[spec.name] = spec
    return index


DATASETS: dict[str, DatasetSpec] = _index(ALL_SPECS)

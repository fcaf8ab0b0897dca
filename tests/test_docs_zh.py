"""docs/zh/README.md, the Chinese README, keeps in step with the English one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def command_cells(text: str, heading: str) -> list[str]:
    """The first cell of every row of the table under `## heading`."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line.split(" | ")[0].lstrip("| ").strip() for line in section.splitlines()
            if line.startswith("| `lstm-tf")]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_english_command_is_in_the_chinese_table():
    english = command_cells((ROOT / "README.md").read_text(encoding="utf-8"), "Commands")
    chinese = command_cells((ROOT / "docs" / "zh" / "README.md").read_text(encoding="utf-8"),
                            "命令")
    assert len(english) >= 14, english  # the table was found
    chinese_spans = {span for cell in chinese for span in code_spans(cell)}
    missing = [span for cell in english for span in code_spans(cell)
               if span not in chinese_spans]
    assert missing == [], f"docs/zh/README.md's command table lacks {missing}"


def test_the_chinese_readme_uses_the_tutorials_terms_and_links_that_exist():
    path = ROOT / "docs" / "zh" / "README.md"
    text = path.read_text(encoding="utf-8")
    for term in ("遗忘门", "输入门", "输出门", "候选值", "细胞状态", "隐藏状态",
                 "LSTM门机制的数学解释", "lstm-tf inspect RUN --html FILE"):
        assert term in text, term
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        assert (path.parent / target).exists(), target

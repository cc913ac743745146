"""The README's code stays true: its custom-op example runs and its property test passes."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(section):
    """The ```python blocks between a section's marker and the next section heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"<!-- section: {section} -->")
    end = text.find("\n## ", start)
    return re.findall(r"```python\n(.*?)```", text[start:end if end != -1 else None], flags=re.S)


def test_the_custom_op_example_runs_and_its_property_test_passes():
    blocks = _python_blocks("custom layer (issue 2)")
    assert len(blocks) == 1
    namespace = {"__name__": "readme_custom_layer"}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # runs test_prelu() itself
    assert "PReLU" in namespace and "test_prelu" in namespace


def test_the_custom_op_example_would_catch_a_wrong_backward():
    """The README's property test is not vacuous: break the slope's gradient and it fails."""
    import pytest

    blocks = _python_blocks("custom layer (issue 2)")
    broken = blocks[0].replace("x * gy", "2 * x * gy")
    assert broken != blocks[0]
    with pytest.raises(AssertionError, match="disagree"):
        exec(compile(broken, str(README), "exec"), {"__name__": "readme_custom_layer_broken"})

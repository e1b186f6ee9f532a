"""What every pytest suite here (integration, browser) shares: a test that
did not run has shown nothing, so a skip fails. That covers pytest.skip
and skip marks, and a parametrize whose list came out empty (pytest
skips those). An expected failure (xfail, strict, naming its bug) stays
what it is."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} was skipped, and a test that did not run shows nothing: {report.longrepr}"

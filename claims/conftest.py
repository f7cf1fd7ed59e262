"""The catalogue's runs write Allure results by default, so `pytest claims` leaves a report."""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        config.option.allure_report_dir = str(config.rootpath / "reports" / "allure-results")

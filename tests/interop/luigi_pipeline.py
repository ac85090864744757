"""An ordinary Luigi pipeline, written without MLSpec in mind (the Luigi tests run it).

orders.csv (an external input) -> CleanOrders -> DailyTotals and CustomerCounts -> Report
-> orders.site.Publish
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import luigi


class RawOrders(luigi.ExternalTask):
    """Orders exported by another system: one row per order."""

    data_dir = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.data_dir) / "orders.csv"))


class CleanOrders(luigi.Task):
    """Drops orders without a customer or with a non-positive amount."""

    data_dir = luigi.Parameter()

    def requires(self) -> RawOrders:
        return RawOrders(data_dir=self.data_dir)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.data_dir) / "clean" / "orders.csv"))

    def run(self) -> None:
        with self.input().open("r") as source:
            reader = csv.DictReader(source)
            fields = reader.fieldnames or []
            rows = [row for row in reader if row["customer"] and float(row["amount"]) > 0]
        with self.output().open("w") as sink:
            writer = csv.DictWriter(sink, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


class DailyTotals(luigi.Task):
    """Sums the amounts per day."""

    data_dir = luigi.Parameter()

    def requires(self) -> CleanOrders:
        return CleanOrders(data_dir=self.data_dir)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.data_dir) / "totals.csv"))

    def run(self) -> None:
        totals: dict[str, float] = defaultdict(float)
        with self.input().open("r") as source:
            for row in csv.DictReader(source):
                totals[row["day"]] += float(row["amount"])
        with self.output().open("w") as sink:
            sink.write("day,total\n")
            for day in sorted(totals):
                sink.write(f"{day},{totals[day]:.2f}\n")


class CustomerCounts(luigi.Task):
    """Counts the orders of each customer."""

    data_dir = luigi.Parameter()

    def requires(self) -> CleanOrders:
        return CleanOrders(data_dir=self.data_dir)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.data_dir) / "customers.json"))

    def run(self) -> None:
        with self.input().open("r") as source:
            counts = Counter(row["customer"] for row in csv.DictReader(source))
        with self.output().open("w") as sink:
            json.dump(dict(sorted(counts.items())), sink)


class Report(luigi.Task):
    """A short report from the totals and the customer counts."""

    data_dir = luigi.Parameter()
    title = luigi.Parameter(default="Orders")

    def requires(self) -> dict[str, luigi.Task]:
        return {
            "totals": DailyTotals(data_dir=self.data_dir),
            "customers": CustomerCounts(data_dir=self.data_dir),
        }

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.data_dir) / "report.md"))

    def run(self) -> None:
        with self.input()["totals"].open("r") as source:
            days = list(csv.DictReader(source))
        with self.input()["customers"].open("r") as source:
            customers = json.load(source)
        with self.output().open("w") as sink:
            sink.write(f"# {self.title}\n\n{len(days)} days, {len(customers)} customers\n")


class Publish(luigi.Task):
    """Copies the report to the public folder, with an index of what was published."""

    task_namespace = "orders.site"

    data_dir = luigi.Parameter()
    title = luigi.Parameter(default="Orders")

    def requires(self) -> Report:
        return Report(data_dir=self.data_dir, title=self.title)

    def output(self) -> dict[str, luigi.LocalTarget]:
        public = Path(self.data_dir) / "public"
        return {
            "report.md": luigi.LocalTarget(str(public / "report.md")),
            "index.json": luigi.LocalTarget(str(public / "index.json")),
        }

    def run(self) -> None:
        with self.input().open("r") as source:
            text = source.read()
        with self.output()["report.md"].open("w") as sink:
            sink.write(text)
        with self.output()["index.json"].open("w") as sink:
            json.dump({"title": self.title, "pages": ["report.md"]}, sink)

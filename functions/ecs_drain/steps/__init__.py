"""The steps that observe and act: the plan and the checks of a drain, the preflight, and what they count and read
(what still runs, room elsewhere, why a drain cannot finish). Each observes through aws, then the decisions decide."""

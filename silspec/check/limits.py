"""Upper bounds on sizes a spec may ask for, so a typo cannot make ``plan`` exhaust memory.

silspec plans every request up front (and samples every persona in memory): a population of
10**29 personas lints as a valid integer but is no design anyone can run.
"""

MAX_POPULATION_SIZE = 10_000_000  # personas in one population
MAX_SAMPLES = 10_000  # replicates per persona and item
MAX_RESAMPLES = 1_000_000  # bootstrap resamples
MAX_TOTAL_REQUESTS = 100_000_000  # requests of a whole plan (estimate, SIL205)

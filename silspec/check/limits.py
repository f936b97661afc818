"""Upper bounds on sizes a spec may ask for, so a typo cannot make ``plan`` exhaust memory.

silspec plans every request up front (and samples every persona in memory): a population of
10**29 personas lints as a valid integer but is no design anyone can run.
"""

MAX_POPULATION_SIZE = 10_000_000  # personas in one population
MAX_SAMPLES = 10_000  # replicates per persona and item
MAX_REPLICATES = 1_000  # `replicates = N`: runs of the design under derived seeds
MAX_RESAMPLES = 1_000_000  # bootstrap resamples
MAX_SPEC_BYTES = 2_000_000  # a .sil file (shipped specs are under 50 KB)
MAX_STRING_CHARS = 100_000  # one string literal (an item text, a template); a prompt is at most 200,000
MAX_TEXT_FILE_BYTES = 1_000_000  # a template file read with file("...")
MAX_TABLE_BYTES = 50_000_000  # a CSV read with table("...")
MAX_TABLE_ROWS = 1_000_000  # rows of one table
MAX_ITEMS_PER_SPEC = 20_000  # items of all surveys together
MAX_TOTAL_REQUESTS = 100_000_000  # requests of a whole plan (estimate, SIL205)

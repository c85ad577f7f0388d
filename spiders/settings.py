"""Every crawl setting, in one place, polite by default.

Scrapy's library defaults are not polite or safe (robots.txt ignored, 180 s timeouts, 1 GiB pages,
no throttling); each value below is chosen on purpose. A source may override only the politeness
keys listed in spiders/sources.py (e.g. the loopback replica needs no delay).

What Scrapy does not do at all (Retry-After, Crawl-delay, robots.txt outages, an address guard,
redirect loops and off-site redirects with a reason, pages in a wrong encoding) is done by the
downloader middlewares in spiders/middlewares.py; README.md, "Faults and politeness", has the
policies.
"""


BOT_NAME = "nightdesk"
SPIDER_MODULES = ["spiders.spiders"]
NEWSPIDER_MODULE = "spiders.spiders"

# Honest, contactable identity; operators set NIGHTDESK_CONTACT to their own address.
USER_AGENT = "NightdeskBot/0.1 (nightly news archiver; +https://github.com/nightdesk)"

ROBOTSTXT_OBEY = True

# Politeness: at most 2 requests in flight per site, 1 s (randomised 0.5-1.5 s) between them,
# and AutoThrottle backs off further when the site slows down. (DOWNLOAD_DELAY_JITTER = 0.5 is
# what RANDOMIZE_DOWNLOAD_DELAY = True meant; Scrapy 2.19 deprecates the latter.)
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Safety: a news page is a few hundred KB; anything near 10 MiB is not an article.
DOWNLOAD_TIMEOUT = 30
DNS_TIMEOUT = 10
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5

# Transient failures are retried; 429 included. Retries wait (PoliteRetryMiddleware): Retry-After
# is honoured up to RETRY_AFTER_MAX s (a longer one gives the URL up at once), and
# without it retries back off 1 s, 2 s, 4 s. Scrapy alone retries at once and ignores Retry-After.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
RETRY_AFTER_MAX = 60.0
RETRY_BACKOFF_BASE = 1.0

# robots.txt: Crawl-delay is honoured up to CRAWL_DELAY_MAX s (a host asking for more is
# not crawled this run); a robots.txt answering 5xx/429 or not at all disallows its host for the
# run (Google's rule), where Scrapy alone would crawl everything.
CRAWL_DELAY_MAX = 60.0

# The address guard refuses loopback, private, link-local, multicast and reserved addresses
# (checked on the resolved address, before connecting), so a redirect or a link cannot point the
# crawler at the machine's or the network's own services. A replica crawl may reach only its
# replica. Addresses or networks listed here (the environment's NIGHTDESK_ALLOWED_ADDRESSES,
# comma-separated, e.g. "10.1.2.3,192.168.0.0/24") are allowed anyway, e.g. a proxy-less
# intranet mirror. Our own Scrapy settings carry no NIGHTDESK_ prefix: that names environment
# variables, read once into contracts.settings.Settings.
ADDRESS_ALLOWLIST: list[str] = []  # spiders/run.py passes Settings.allowed_addresses

# Order matters (lower numbers see requests first and responses last); see spiders/middlewares.py.
DOWNLOADER_MIDDLEWARES = {
    # right after OffsiteMiddleware (50): off-site hosts are never resolved; before robots.txt
    "spiders.middlewares.AddressGuardMiddleware": 60,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "spiders.middlewares.PoliteRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "spiders.middlewares.PoliteRetryMiddleware": 550,
    # below decompression (590), so it checks the bytes the parser will see
    "spiders.middlewares.EncodingCheckMiddleware": 575,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "spiders.middlewares.SizeLimitMiddleware": 590,
    # above RedirectMiddleware (600), so it judges each 3xx before it is followed
    "spiders.middlewares.RedirectPolicyMiddleware": 610,
}

# Stateless crawling: no cookies (no consent walls or sessions to carry), no telnet console.
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
HTTPCACHE_ENABLED = False

# Items leave through feed exports configured per run by spiders/run.py (always overwrite).
FEED_EXPORT_ENCODING = "utf-8"
FEED_STORE_EMPTY = True

# Every fetched page becomes one article or one reject, made encodable (lone surrogates would
# make the UTF-8 export drop the item), and the crawl memory is written for every verdict
# (spiders/pipelines.py).
ITEM_PIPELINES = {
    "spiders.pipelines.VerdictPipeline": 100,
    "spiders.pipelines.EncodableText": 800,
    "spiders.pipelines.LedgerPipeline": 900,
}
# Scrapy's UrlLengthMiddleware drops longer requests silently; the spider rejects them first,
# with a row (reason url_too_long). 2083 characters: what browsers have long accepted.
URLLENGTH_LIMIT = 2083

EXTENSIONS = {
    "spiders.extensions.StatsDump": 500,
    "spiders.middlewares.DropAccounting": 510,  # a dropped request must leave a trace
}
# spiders/run.py sets these per crawl.
CRAWL_STATS_PATH = None
CRAWL_FETCHED_PATH = None  # the crawl-memory rows (fetched.jsonl)
REPLICA_ADDR = None  # "127.0.0.1:PORT" routes the site's hosts to a local replica
REPLICA_HOSTS = []
REPLICA_NOW = None  # the replica's clock (ISO 8601 with offset); None: its default

LOG_LEVEL = "INFO"

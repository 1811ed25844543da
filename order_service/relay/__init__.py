"""The relay (`python -m order_service relay`): it follows the event feed, queues a delivery
for each enabled webhook endpoint that wants an event, and delivers them, signed, retrying
with back-off. A process of its own, apart from the API: placing an order never waits on it.
"""

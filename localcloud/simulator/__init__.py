"""The community simulator: ``python -m localcloud simulate`` lives one community day through a running hub.

Everything goes through the hub's public edges only: devices publish over MQTT as themselves, residents,
staff and partners use the HTTP API, money moves through the WeChat sandbox, and the partners' webhook
receivers verify every delivery. Modules:

* ``clock``      simulated time ↔ wall time, kept inside the hub's device-clock window
* ``habits``     how the community lives: hours, categories, weights, usage profiles, services
* ``town``       the community's plan (households, devices) — pure, seeded
* ``day_plan``   what happens in one day — pure, seeded
* ``hub_client`` HTTP; ``founding`` sets the community up; ``residents`` act as residents
* ``devices``    MQTT links; ``sensors`` the devices that carry state (bins, soil) and device clocks
* ``partners``   loopback webhook receivers that verify deliveries and fulfil orders
* ``agenda``     things to do at simulated moments; ``day`` a day's happenings; ``staff`` the rounds
* ``tally``, ``backlog``, ``outcome``  what happened, how far behind the hub is, what it shows afterwards
* ``progress``, ``summary``, ``report``, ``svg``  what people see
* ``simulation`` ties it together; ``cli`` the command; ``background`` the gentle loop of ``up --demo``
"""

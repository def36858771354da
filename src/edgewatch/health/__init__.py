"""The health monitor: checks of many kinds, their status with retries, components
with dependencies, a health score, and the results as series.

    monitor = HealthMonitor(config.health, env, sink=...)
    await monitor.run()            # until cancelled
    monitor.snapshot()             # -> HealthSnapshot (score, components, checks)

See docs/health.md.
"""

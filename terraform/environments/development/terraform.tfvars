# Development: names of what already exists in the development account. The pipeline passes
# image_tag and launcher_zip on the command line.
environment                 = "development"
vpc_name                    = "housing-development"
private_subnet_name_pattern = "housing-development-private-*"
table_names                 = ["Persons", "TenureInformation", "Assets"]
search_domain_name          = "housing-search-development"

# Runs measure under 150 MB: half a vCPU and 1 GB leave ample headroom.
task_cpu    = 512
task_memory = 1024
# Rebuilds resume after a Spot reclaim: the cheaper capacity is fine here.
fargate_spot = true

# Alarms and task outcomes always reach the module's SNS topic (output alerts_topic_arn);
# list further targets here, e.g. the on-call pager's topic.
alarm_actions = []

# No scheduled runs in development: rebuilds are started by hand from the console.
schedules = {}

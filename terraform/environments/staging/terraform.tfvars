# Staging: names of what already exists in the staging account. The pipeline passes image_tag
# and launcher_zip on the command line.
environment                 = "staging"
vpc_name                    = "housing-staging"
private_subnet_name_pattern = "housing-staging-private-*"
table_names                 = ["Persons", "TenureInformation", "Assets"]
search_domain_name          = "housing-search-staging"

# Runs measure under 150 MB: half a vCPU and 1 GB leave ample headroom.
task_cpu    = 512
task_memory = 1024
# Rebuilds resume after a Spot reclaim: the cheaper capacity is fine here.
fargate_spot = true

# Alarms and task outcomes always reach the module's SNS topic (output alerts_topic_arn);
# list further targets here, e.g. the on-call pager's topic.
alarm_actions = []

# A nightly verify keeps staging's drift visible without rewriting its indexes.
schedules = {
  "verify-persons" = { schedule_expression = "cron(0 2 * * ? *)", table = "Persons", index = "persons", mode = "verify" }
}

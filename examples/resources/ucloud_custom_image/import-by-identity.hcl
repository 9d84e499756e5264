# Terraform >= 1.12: import by identity instead of an id string. region and
# project_id may be left out: they default to the provider's.
import {
  to = ucloud_custom_image.centos
  identity = {
    id     = "uimage-abcd1234"
    region = "cn-bj2"
  }
}

# Terraform >= 1.12: a copy is adopted by pointing `to` at a copy resource.
import {
  to = ucloud_custom_image_copy.sh2
  identity = {
    id         = "uimage-efgh5678"
    region     = "cn-sh2"
    project_id = "org-abc123"
  }
}

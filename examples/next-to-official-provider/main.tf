# This provider next to UCloud's official `ucloud/ucloud` provider in one
# configuration: both want the local name `ucloud`, so this one is given
# another (`ucloudimg`) and every one of its resources and data sources
# names it with `provider =`. Blocks without `provider =` go to the
# provider named `ucloud`.
#
# In a real configuration, add the official provider and use the image:
#
#   ucloud = { source = "ucloud/ucloud" }      # in required_providers
#   provider "ucloud" { region = "cn-bj2" }
#   resource "ucloud_instance" "web" {
#     image_id = ucloud_custom_image_copy.sh.id
#     ...
#   }
terraform {
  required_providers {
    ucloudimg = {
      source = "ucloud-rs/ucloud"
    }
  }
}

provider "ucloudimg" {
  region     = "cn-bj2"
  project_id = "org-example"
}

resource "ucloud_custom_image" "centos" {
  provider = ucloudimg

  name      = "centos-7-golden"
  ufile_url = "https://my-bucket.cn-bj.ufileos.com/images/centos-7.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}

resource "ucloud_custom_image_copy" "sh" {
  provider = ucloudimg

  source_image_id = ucloud_custom_image.centos.id
  source_region   = "cn-bj2"
  region          = "cn-sh2"
}

data "ucloud_custom_images" "golden" {
  provider = ucloudimg

  name_regex = "^centos-7-"
  depends_on = [ucloud_custom_image.centos]
}

output "image_ids" {
  value = {
    "cn-bj2" = ucloud_custom_image.centos.id
    "cn-sh2" = ucloud_custom_image_copy.sh.id
  }
}
